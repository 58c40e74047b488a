import Foundation
import RefreshScheduler
import Testing

@Suite struct RefreshTimingTests {
    let timing = RefreshTiming()
    let issued = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func defaultLeadIsTenPercentWithAFiveMinuteFloor() {
        #expect(timing.lead(forLifetime: .seconds(36_000)) == .seconds(3_600))  // 10 h token: 1 h ahead
        #expect(timing.lead(forLifetime: .seconds(3_600)) == .seconds(360))  // 1 h token: 6 minutes ahead
        #expect(timing.lead(forLifetime: .seconds(1_800)) == .seconds(300))  // HubSpot's 30 minutes: the 5-minute floor
        #expect(timing.lead(forLifetime: .seconds(5_184_000)) == .seconds(518_400))  // Meta's 60 days: 6 days ahead
    }

    @Test func leadNeverExceedsHalfTheLifetime() {
        #expect(timing.lead(forLifetime: .seconds(60)) == .seconds(30))
        #expect(timing.lead(forLifetime: .seconds(400)) == .seconds(200))
        #expect(RefreshTiming(configuredLead: .seconds(900)).lead(forLifetime: .seconds(600)) == .seconds(300))
        #expect(timing.lead(forLifetime: .zero) == .zero)
    }

    @Test func aConfiguredLeadReplacesTheProportionalOne() {
        let fixed = RefreshTiming(configuredLead: .seconds(120))
        #expect(fixed.lead(forLifetime: .seconds(3_600)) == .seconds(120))
        #expect(fixed.lead(forLifetime: .seconds(36_000)) == .seconds(120))
    }

    @Test func jitterOnlyMovesTheDueTimeEarlierAndStaysInsideTheLifetime() {
        let expires = issued.addingTimeInterval(1_800)
        let earliest = timing.dueDate(issuedAt: issued, expiresAt: expires, random: 0.999)
        let latest = timing.dueDate(issuedAt: issued, expiresAt: expires, random: 0)
        #expect(latest == expires.addingTimeInterval(-300))
        #expect(earliest < latest)
        #expect(earliest >= expires.addingTimeInterval(-330))
        // A 60-second token is due at half its life however the dice fall: no refresh loop.
        let short = issued.addingTimeInterval(60)
        for random in [0.0, 0.5, 0.999] {
            #expect(timing.dueDate(issuedAt: issued, expiresAt: short, random: random) == issued.addingTimeInterval(30))
        }
    }

    @Test func connectorsMadeTogetherSpreadOut() {
        let expires = issued.addingTimeInterval(3_600)
        var generator = SystemRandomNumberGenerator()
        let dues = Set(
            (0..<100).map { _ in timing.dueDate(issuedAt: issued, expiresAt: expires, random: Double.random(in: 0..<1, using: &generator)) })
        #expect(dues.count > 90)
    }
}

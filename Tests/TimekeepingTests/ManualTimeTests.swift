import Foundation
import Testing
import Timekeeping

@Suite struct ManualTimeTests {
    @Test func readingsMoveOnlyWhenAdvancedAndTogether() {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let time = ManualTime(now: start)
        let instant = time.instant
        #expect(time.now == start)
        time.advance(by: .seconds(90))
        #expect(time.now == start.addingTimeInterval(90))
        #expect(time.instant - instant == .seconds(90))
    }

    @Test func aSleeperWakesWhenTheTimeReachesItsDeadline() async throws {
        let time = ManualTime()
        let woke = Task {
            try await time.sleep(for: .seconds(300))
            return time.now
        }
        try await time.waitForSleeps(1)
        time.advance(by: .seconds(299))
        #expect(time.sleeping == 1)
        time.advance(by: .seconds(1))
        let at = try await woke.value
        #expect(time.sleeping == 0)
        #expect(at >= time.now)
    }

    @Test func aDeadlineAlreadyPassedDoesNotWait() async throws {
        let time = ManualTime()
        try await time.sleep(for: .zero)
        try await time.sleep(until: time.instant - .seconds(1))
        #expect(time.sleeping == 0)
    }

    @Test func cancellingASleeperEndsItsSleep() async throws {
        let time = ManualTime()
        let sleeper = Task { try await time.sleep(for: .seconds(3600)) }
        try await time.waitForSleeps(1)
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(time.sleeping == 0)
    }

    @Test func systemTimeSleepsForReal() async throws {
        let time = SystemTime()
        let before = time.instant
        try await time.sleep(for: .milliseconds(20))
        #expect(time.instant - before >= .milliseconds(20))
    }
}

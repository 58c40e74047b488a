import FailureLogging
import Foundation
import Logging
import PGTestSupport
import Synchronization
import Testing

/// The summariser's pacing, on a clock the test moves.
@Suite struct FailureLogTests {
    /// A clock that moves only when told.
    final class ManualTime: Sendable {
        private let instant = Mutex(ContinuousClock.now)
        var now: ContinuousClock.Instant { instant.withLock { $0 } }
        func advance(_ duration: Duration) { instant.withLock { $0 += duration } }
    }

    let database = FailureLog.Kind(condition: "database unavailable", counted: "requests answered 503", level: .error)

    func make() -> (FailureLog, ManualTime, LogLines) {
        let time = ManualTime()
        let lines = LogLines()
        return (FailureLog(logger: lines.logger(), interval: .seconds(10), now: { time.now }), time, lines)
    }

    @Test func theFirstFailureIsLoggedThenOneSummaryPerIntervalThenTheRecovery() {
        let (log, time, lines) = make()
        // 8 seconds of failures, 100 a second.
        for _ in 0..<800 {
            log.record(database, "resolve failed", metadata: ["provider": "stripe"])
            time.advance(.milliseconds(10))
        }
        #expect(lines.aboveDebug.count == 1)
        let first = lines.aboveDebug[0]
        #expect(first.level == .error && first.message == "resolve failed" && first.metadata["condition"] == "database unavailable")
        #expect(lines.all.filter { $0.level == .debug }.count == 799)  // the detail stays at debug
        // Past the interval, the next failure brings the summary of everything since the first.
        time.advance(.seconds(3))
        log.record(database, "resolve failed")
        #expect(lines.aboveDebug.count == 2)
        #expect(lines.aboveDebug[1].message == "database unavailable: 800 requests answered 503 in the last 11.0 s")
        #expect(lines.aboveDebug[1].metadata["count"] == "800")
        // Within the next interval, nothing more; then the recovery says what was left and how long it lasted.
        for _ in 0..<50 { log.record(database, "resolve failed") }
        time.advance(.seconds(2))
        log.clear(database)
        let said = lines.aboveDebug.map(\.message)
        #expect(said.count == 4)
        #expect(said[2] == "database unavailable: 50 requests answered 503 in the last 2.0 s")
        #expect(said[3] == "database unavailable: cleared after 13.0 s, 851 requests answered 503 in all")
        #expect(lines.aboveDebug[3].level == .notice)
        #expect(log.failing.isEmpty)
        // A new failure starts a new run, logged at once.
        log.record(database, "resolve failed")
        #expect(lines.aboveDebug.count == 5)
    }

    @Test func aFlushSaysWhatNoLaterFailureWouldAndKindsAreApart() {
        let (log, time, lines) = make()
        let stripe = FailureLog.Kind(condition: "refresh failures at stripe (HTTP 500)", counted: "refreshes postponed", level: .warning)
        let github = FailureLog.Kind(condition: "refresh failures at github (HTTP 500)", counted: "refreshes postponed", level: .warning)
        for _ in 0..<30 {
            log.record(stripe, "refresh failed; retrying later")
            log.record(github, "refresh failed; retrying later")
        }
        #expect(lines.aboveDebug.count == 2)
        log.flush()
        #expect(lines.aboveDebug.count == 2, "not before the interval has passed")
        time.advance(.seconds(10))
        log.flush()
        #expect(
            Set(lines.aboveDebug.dropFirst(2).map(\.message)) == [
                "refresh failures at stripe (HTTP 500): 29 refreshes postponed in the last 10.0 s",
                "refresh failures at github (HTTP 500): 29 refreshes postponed in the last 10.0 s",
            ])
        log.flush()
        #expect(lines.aboveDebug.count == 4, "nothing new to say")
        log.clear { $0.condition.hasPrefix("refresh failures at stripe") }
        #expect(lines.aboveDebug.last?.message == "refresh failures at stripe (HTTP 500): cleared after 10.0 s, 30 refreshes postponed in all")
        #expect(log.failing == [github])
    }

    @Test func clearingWithNothingFailingSaysNothing() {
        let (log, _, lines) = make()
        log.clear(database)
        log.flush()
        #expect(lines.all.isEmpty)
    }
}

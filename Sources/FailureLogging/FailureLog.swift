public import Foundation
public import Logging
import Synchronization

/// Failures that repeat, logged so that an outage reads as a handful of lines instead of one per request.
///
/// The first failure of a kind is logged at once, with its detail. Those that follow are counted, and summarised
/// at most once per interval ("database unavailable: 41230 requests answered 503 in the last 10 s"), with the first
/// and last time; when the condition clears, one line says so and how long it lasted. Every failure is still at
/// `debug` with its own detail, and metrics, counted elsewhere, lose nothing. Summaries carry only what the caller
/// put in the kind and the first failure's metadata: never a secret, as long as callers log none (the tests scan).
///
/// `now` is the clock the intervals are measured on, passed in so that tests of the pacing need not wait.
public final class FailureLog: Sendable {
    /// One condition that fails repeatedly: the database, a provider, a connector's secret.
    public struct Kind: Hashable, Sendable {
        /// Names the condition in every line: "database unavailable", "refresh failures at stripe (HTTP 500)".
        public var condition: String
        /// What is counted: "requests answered 503", "refreshes postponed".
        public var counted: String
        /// The level of the first line and of the summaries; the all-clear is `notice`.
        public var level: Logger.Level

        public init(condition: String, counted: String, level: Logger.Level) {
            self.condition = condition
            self.counted = counted
            self.level = level
        }
    }

    private struct Run {
        var started: ContinuousClock.Instant
        var firstAt: Date
        var lastAt: Date
        var total: Int
        /// Failures since the last line about this kind.
        var pending: Int
        var lastLine: ContinuousClock.Instant
    }

    /// What to log, decided under the lock and written after it.
    private enum Line {
        case first
        case summary(count: Int, firstAt: Date, lastAt: Date, over: Duration)
        case cleared(lasted: Duration, total: Int)
    }

    public let logger: Logger
    public let interval: Duration
    private let now: @Sendable () -> ContinuousClock.Instant
    private let wallClock: @Sendable () -> Date
    private let runs = Mutex<[Kind: Run]>([:])
    /// Runs open now, read without the lock: clearing when nothing failed costs one atomic load.
    private let open = Atomic<Int>(0)

    public init(
        logger: Logger, interval: Duration = .seconds(10), now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
        wallClock: @escaping @Sendable () -> Date = Date.init
    ) {
        self.logger = logger
        self.interval = interval
        self.now = now
        self.wallClock = wallClock
    }

    /// One failure of `kind`. The first of a run is logged with `message` and `metadata`; the rest at `debug`, and
    /// in the summaries.
    public func record(_ kind: Kind, _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata = [:]) {
        let instant = now()
        let date = wallClock()
        let line = runs.withLock { runs -> Line? in
            guard var run = runs[kind] else {
                runs[kind] = Run(started: instant, firstAt: date, lastAt: date, total: 1, pending: 0, lastLine: instant)
                open.add(1, ordering: .relaxed)
                return .first
            }
            run.total += 1
            run.pending += 1
            run.lastAt = date
            defer { runs[kind] = run }
            return Self.summary(of: &run, at: instant, interval: interval)
        }
        switch line {
        case .first?:
            var metadata = metadata()
            metadata["condition"] = "\(kind.condition)"
            logger.log(level: kind.level, message(), metadata: metadata)
        case let line?:
            write(line, kind)
            logger.debug(message(), metadata: metadata())
        case nil:
            logger.debug(message(), metadata: metadata())
        }
    }

    /// The condition of `kind` is over: what was not summarised yet is, and one line says how long it lasted.
    public func clear(_ kind: Kind) {
        guard open.load(ordering: .relaxed) > 0 else { return }
        clear { $0 == kind }
    }

    /// Clears every open kind `matches` picks (say, all refresh failures of one provider).
    public func clear(where matches: (Kind) -> Bool) {
        guard open.load(ordering: .relaxed) > 0 else { return }
        let instant = now()
        let lines = runs.withLock { runs -> [(Kind, [Line])] in
            var lines: [(Kind, [Line])] = []
            for (kind, run) in runs where matches(kind) {
                runs[kind] = nil
                open.subtract(1, ordering: .relaxed)
                var said: [Line] = []
                if run.pending > 0 {
                    said.append(.summary(count: run.pending, firstAt: run.firstAt, lastAt: run.lastAt, over: instant - run.lastLine))
                }
                said.append(.cleared(lasted: instant - run.started, total: run.total))
                lines.append((kind, said))
            }
            return lines
        }
        for (kind, said) in lines { said.forEach { write($0, kind) } }
    }

    /// Summarises every kind whose interval has passed with failures not yet said: what a timer calls, so that the
    /// last failures of a run are said even when no more arrive.
    public func flush() {
        guard open.load(ordering: .relaxed) > 0 else { return }
        let instant = now()
        let lines = runs.withLock { runs -> [(Kind, Line)] in
            var lines: [(Kind, Line)] = []
            for (kind, var run) in runs {
                if let line = Self.summary(of: &run, at: instant, interval: interval) {
                    runs[kind] = run
                    lines.append((kind, line))
                }
            }
            return lines
        }
        for (kind, line) in lines { write(line, kind) }
    }

    /// The kinds failing now.
    public var failing: [Kind] { runs.withLock { Array($0.keys) } }

    /// A summary of `run` when its interval has passed and failures wait to be said; resets its count.
    private static func summary(of run: inout Run, at instant: ContinuousClock.Instant, interval: Duration) -> Line? {
        guard run.pending > 0, instant - run.lastLine >= interval else { return nil }
        defer {
            run.pending = 0
            run.lastLine = instant
        }
        return .summary(count: run.pending, firstAt: run.firstAt, lastAt: run.lastAt, over: instant - run.lastLine)
    }

    private func write(_ line: Line, _ kind: Kind) {
        switch line {
        case .first:
            break
        case .summary(let count, let firstAt, let lastAt, let over):
            logger.log(
                level: kind.level, "\(kind.condition): \(count) \(kind.counted) in the last \(Self.seconds(over)) s",
                metadata: [
                    "condition": "\(kind.condition)", "count": "\(count)", "since": "\(firstAt.formatted(.iso8601))",
                    "last": "\(lastAt.formatted(.iso8601))",
                ])
        case .cleared(let lasted, let total):
            logger.notice(
                "\(kind.condition): cleared after \(Self.seconds(lasted)) s, \(total) \(kind.counted) in all",
                metadata: ["condition": "\(kind.condition)", "count": "\(total)", "duration_s": "\(Self.seconds(lasted))"])
        }
    }

    /// Seconds with one decimal.
    static func seconds(_ duration: Duration) -> String {
        let tenths = (duration.components.seconds * 10) + duration.components.attoseconds / 100_000_000_000_000_000
        return "\(tenths / 10).\(tenths % 10)"
    }
}

public import Foundation
import Synchronization

/// Time that moves only when told (``advance(by:)``): for tests of timing rules (backoffs, pauses, pacing,
/// expiries), which then run in microseconds and mean the same on a loaded machine as on a quiet one.
///
/// Both readings start from the real clocks at creation and move together. A sleeper wakes when an advance
/// takes the time to its deadline, or when its task is cancelled.
public final class ManualTime: TimeSource {
    private struct Sleeper {
        var id: UInt64
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var offset = Duration.zero
        var sleepers: [Sleeper] = []
        var nextID: UInt64 = 0
        /// Sleeps begun so far, for tests that wait until a component has gone to sleep.
        var sleepsBegun = 0
    }

    private let startDate: Date
    private let startInstant: ContinuousClock.Instant
    private let state = Mutex(State())

    public init(now: Date = Date()) {
        startDate = now
        startInstant = .now
    }

    public var now: Date { startDate.addingTimeInterval(Self.seconds(state.withLock { $0.offset })) }

    public var instant: ContinuousClock.Instant { startInstant + state.withLock { $0.offset } }

    /// How many sleeps have begun (finished or not): a test waits for this to grow before it advances.
    public var sleepsBegun: Int { state.withLock { $0.sleepsBegun } }

    /// How many sleepers wait now.
    public var sleeping: Int { state.withLock { $0.sleepers.count } }

    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            state.sleepsBegun += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resume: Result<Void, any Error>? = state.withLock { state in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if startInstant + state.offset >= deadline { return .success(()) }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return nil
                }
                if let resume { continuation.resume(with: resume) }
            }
        } onCancel: {
            let sleeper = state.withLock { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves both readings forward by `duration` and wakes every sleeper whose deadline that reaches, earliest
    /// first.
    public func advance(by duration: Duration) {
        let woken = state.withLock { state -> [Sleeper] in
            state.offset += duration
            let now = startInstant + state.offset
            let due = state.sleepers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in woken { sleeper.continuation.resume() }
    }

    /// Waits (in real time, briefly yielding) until at least `count` sleeps have begun: the component under
    /// test has reached the wait that the next ``advance(by:)`` is meant for.
    public func waitForSleeps(_ count: Int, within limit: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + limit
        while sleepsBegun < count {
            guard ContinuousClock.now < deadline else { throw WaitTimedOut() }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    public struct WaitTimedOut: Error {}

    private static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

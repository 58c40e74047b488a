public import Foundation

/// Where a component reads the time and waits. The daemon passes ``SystemTime``; a test of a timing rule passes
/// a ``ManualTime`` and moves it forward, so that it never waits on the wall clock.
///
/// Two readings, as the system has two clocks: the wall clock for times that are stored or shown (expiries, due
/// times), and a monotonic one for waits and elapsed times, which the wall clock's steps must not disturb.
public protocol TimeSource: Sendable {
    /// Wall-clock time.
    var now: Date { get }
    /// Monotonic time.
    var instant: ContinuousClock.Instant { get }
    /// Suspends until `instant` reaches `deadline`; throws `CancellationError` when the task is cancelled first.
    func sleep(until deadline: ContinuousClock.Instant) async throws
}

extension TimeSource {
    /// Suspends for `duration` of this source's time.
    public func sleep(for duration: Duration) async throws {
        try await sleep(until: instant + duration)
    }
}

/// The system's clocks: `Date()` and `ContinuousClock`.
public struct SystemTime: TimeSource {
    public init() {}

    public var now: Date { Date() }

    public var instant: ContinuousClock.Instant { .now }

    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await Task.sleep(until: deadline, clock: .continuous)
    }
}

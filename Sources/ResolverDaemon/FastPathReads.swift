import ServiceLifecycle
import Synchronization

/// The resolves ``ResolveFastPath`` is reading from the database. Their tasks belong to no connection (the
/// client may even have gone), so the API listener does not wait for them when it stops; this service, stopped
/// after the API listener and before the audit writer, waits until the last of them has recorded its audit
/// event, so that graceful shutdown loses none.
final class FastPathReads: Service, Sendable {
    /// The longest shutdown waits: a read is bounded by the pool's timeouts well before this.
    static let drainLimit = Duration.seconds(30)

    private let inFlight = Atomic<Int>(0)

    var count: Int { inFlight.load(ordering: .relaxed) }

    func begin() { inFlight.add(1, ordering: .relaxed) }

    func end() { inFlight.subtract(1, ordering: .relaxed) }

    func run() async throws {
        // Cancellation (not a graceful shutdown) skips straight to the wait, which then ends at once.
        try? await gracefulShutdown()
        let deadline = ContinuousClock.now + Self.drainLimit
        while count > 0 && ContinuousClock.now < deadline && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

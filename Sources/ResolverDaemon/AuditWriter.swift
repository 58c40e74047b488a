import Foundation
import Logging
import PGClient
import ServiceLifecycle
import Synchronization

/// Writes audit events (who resolved which connector, with what outcome; never a token) in batches, off the
/// request path: a request only appends to a buffer. On graceful shutdown the buffer is flushed.
final class AuditWriter: Service, Sendable {
    struct Event: Sendable {
        var actor: String
        var action: String
        var outcome: String
        var connectorID: String?
        var provider: String?
        var userID: String?
        var at: Date
    }

    private let pool: PGConnectionPool
    private let logger: Logger
    private let buffer = Mutex<[Event]>([])
    private let interval: Duration
    /// Beyond this many unwritten events (a long database outage) the oldest are dropped, and counted.
    private let capacity: Int
    private let dropped = Atomic<Int>(0)

    init(pool: PGConnectionPool, logger: Logger, interval: Duration = .milliseconds(100), capacity: Int = 1_000_000) {
        self.pool = pool
        self.logger = logger
        self.interval = interval
        self.capacity = capacity
    }

    func record(_ event: Event) {
        let overflow = buffer.withLock { events -> Int in
            events.append(event)
            guard events.count > capacity else { return 0 }
            let excess = events.count - capacity
            events.removeFirst(excess)
            return excess
        }
        if overflow > 0 { dropped.add(overflow, ordering: .relaxed) }
    }

    var pending: Int { buffer.withLock { $0.count } }

    func run() async throws {
        // Only the wait between flushes ends early on shutdown: a write in progress is never cancelled.
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await cancelWhenGracefulShutdown { try? await Task.sleep(for: self.interval) }
            await flush()
        }
        // Shutting down: the HTTP server has stopped, so this is the last of the events.
        for _ in 0..<50 where pending > 0 {
            await flush()
            if pending > 0 { try? await Task.sleep(for: .milliseconds(100)) }
        }
        if pending > 0 { logger.error("audit events could not be written before shutdown", metadata: ["count": "\(pending)"]) }
    }

    /// Writes everything buffered; on failure the events go back to the front of the buffer.
    func flush() async {
        let batch = buffer.withLock { events -> [Event] in
            defer { events.removeAll(keepingCapacity: true) }
            return events
        }
        guard !batch.isEmpty else { return }
        for start in stride(from: 0, to: batch.count, by: 5_000) {
            let slice = batch[start..<min(start + 5_000, batch.count)]
            do {
                try await insert(slice)
            } catch {
                logger.warning("audit write failed; will retry", metadata: ["error": "\(error)", "count": "\(batch.count - start)"])
                buffer.withLock { $0.insert(contentsOf: batch[start...], at: 0) }
                return
            }
        }
        let lost = dropped.exchange(0, ordering: .relaxed)
        if lost > 0 { logger.error("audit events dropped while the database was unavailable", metadata: ["count": "\(lost)"]) }
    }

    /// One binary COPY per batch: PostgreSQL parses no text and evaluates no expression for it, which costs
    /// the database a fraction of an INSERT over unnested arrays.
    private func insert(_ events: ArraySlice<Event>) async throws {
        var rows = PGCopyRows(reservingCapacity: 128 * events.count)
        for event in events {
            rows.startRow(fieldCount: 7)
            rows.append(timestamp: event.at)
            rows.append(text: event.actor)
            rows.append(text: event.action)
            rows.append(text: event.outcome)
            rows.append(text: event.connectorID)
            rows.append(text: event.provider)
            rows.append(text: event.userID)
        }
        _ = try await pool.copyIn(
            unsafeSQL: "COPY audit_events (occurred_at, actor, action, outcome, connector_id, provider, user_id) FROM STDIN (FORMAT binary)",
            rows: rows)
    }
}

import Foundation
import Logging
import PGClient
import ServiceLifecycle
import Synchronization

/// Writes audit events (who resolved which connector, with what outcome; never a token) in batches, off the
/// request path: a request only appends to a buffer. On graceful shutdown the buffer is flushed.
///
/// While events keep coming the buffer is written every `busyInterval` (10 ms), idle it is looked at every
/// `interval` (100 ms). Under load the short interval keeps each write small: at 30k resolves a second a
/// 100 ms batch took the writer ~1.5 ms to encode and the database a few more to store, in one piece, and on a
/// host whose cores are all busy those bursts took the CPU from the request threads for as long; p99 of cached
/// resolves at 8 connections went from 2.6–3.9 ms to 1.6–2.1 ms (bare route 0.8–1.3 ms) with the 10 ms batches.
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
    private let busyInterval: Duration
    /// Beyond this many unwritten events (a long database outage) the oldest are dropped, and counted.
    private let capacity: Int
    private let dropped = Atomic<Int>(0)

    init(
        pool: PGConnectionPool, logger: Logger, interval: Duration = .milliseconds(100),
        busyInterval: Duration = .milliseconds(10), capacity: Int = 1_000_000
    ) {
        self.pool = pool
        self.logger = logger
        self.interval = interval
        self.busyInterval = min(busyInterval, interval)
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
        var wait = interval
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await cancelWhenGracefulShutdown { [wait] in try? await Task.sleep(for: wait) }
            wait = await flush() > 0 ? busyInterval : interval
        }
        // Shutting down: the HTTP server has stopped, so this is the last of the events.
        for _ in 0..<50 where pending > 0 {
            await flush()
            if pending > 0 { try? await Task.sleep(for: .milliseconds(100)) }
        }
        if pending > 0 { logger.error("audit events could not be written before shutdown", metadata: ["count": "\(pending)"]) }
    }

    /// Writes everything buffered and answers how many events that was; on failure the events go back to the
    /// front of the buffer.
    @discardableResult
    func flush() async -> Int {
        let batch = buffer.withLock { events -> [Event] in
            defer { events.removeAll(keepingCapacity: true) }
            return events
        }
        guard !batch.isEmpty else { return 0 }
        for start in stride(from: 0, to: batch.count, by: 5_000) {
            let slice = batch[start..<min(start + 5_000, batch.count)]
            do {
                try await insert(slice)
            } catch {
                logger.warning("audit write failed; will retry", metadata: ["error": "\(error)", "count": "\(batch.count - start)"])
                buffer.withLock { $0.insert(contentsOf: batch[start...], at: 0) }
                return start
            }
        }
        let lost = dropped.exchange(0, ordering: .relaxed)
        if lost > 0 { logger.error("audit events dropped while the database was unavailable", metadata: ["count": "\(lost)"]) }
        return batch.count
    }

    /// One row per (actor, action, outcome) holding its events' times, connectors, providers and users as binary
    /// arrays: the database stores a few rows for thousands of events (see migration 6 for what that saves). A
    /// busy daemon's batch is usually of one kind, a single prepared INSERT; several go in one transaction.
    private func insert(_ events: ArraySlice<Event>) async throws {
        let rows = Self.grouped(events).map { kind, members -> PGQuery in
            var first = events[members[0]].at, last = first
            for index in members {
                first = min(first, events[index].at)
                last = max(last, events[index].at)
            }
            let times = PGBinaryArray.timestamptz(count: members.count) { events[members[$0]].at }
            let connectors = PGBinaryArray.text(count: members.count) { Self.storable(events[members[$0]].connectorID) }
            let providers = PGBinaryArray.text(count: members.count) { Self.storable(events[members[$0]].provider) }
            let users = PGBinaryArray.text(count: members.count) { Self.storable(events[members[$0]].userID) }
            return """
                INSERT INTO audit_batches (first_at, last_at, actor, action, outcome, occurred_at, connector_id, provider, user_id)
                VALUES (\(first), \(last), \(Self.storable(kind.actor)), \(kind.action), \(kind.outcome), \(times), \(connectors), \(providers), \(users))
                """
        }
        if rows.count == 1 {
            _ = try await pool.query(rows[0])
        } else {
            try await pool.withTransaction { connection in
                for row in rows { _ = try await connection.query(row) }
            }
        }
    }

    struct Kind: Hashable {
        var actor: String
        var action: String
        var outcome: String
    }

    /// The events' positions by kind, each kind in the order it first appears and its events in theirs.
    static func grouped(_ events: ArraySlice<Event>) -> [(kind: Kind, members: [Int])] {
        var groups: [(kind: Kind, members: [Int])] = []
        var groupOf: [Kind: Int] = [:]
        var last: (kind: Kind, group: Int)?
        for index in events.indices {
            let event = events[index]
            let kind = Kind(actor: event.actor, action: event.action, outcome: event.outcome)
            // Most events in a batch are of the kind before them (a busy service's successful resolves).
            if let last, last.kind == kind {
                groups[last.group].members.append(index)
                continue
            }
            let group = groupOf[kind] ?? {
                groups.append((kind, []))
                groupOf[kind] = groups.count - 1
                return groups.count - 1
            }()
            groups[group].members.append(index)
            last = (kind, group)
        }
        return groups
    }

    /// PostgreSQL's text cannot hold NUL, and one such value (a request's user id, say) must not keep the whole
    /// batch from being written: it is stored with U+FFFD in its place.
    static func storable(_ text: String?) -> String? {
        text.map(storable)
    }

    static func storable(_ text: String) -> String {
        guard text.utf8.contains(0) else { return text }
        return text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}")
    }
}

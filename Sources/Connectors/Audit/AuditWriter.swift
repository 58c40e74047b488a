public import FailureLogging
public import Foundation
public import Logging
import NIOCore
public import PGClient
public import ServiceLifecycle
import Synchronization
public import Timekeeping

/// Writes audit events (who resolved which connector, with what outcome; never a token) in batches, off the
/// request path: a request only appends to a buffer. On graceful shutdown the buffer is flushed.
///
/// How long the writer waits before the next write follows the rate events arrive at: long enough to gather
/// about `batchSize` (200) of them, between `shortestInterval` (2 ms) and `interval` (100 ms). A quiet or
/// moderately busy daemon (up to ~2,000 events a second) thus writes ten times a second, where a fixed short
/// interval would have the database commit a handful of events a hundred times a second; a busy one writes a
/// couple of hundred events at a time. Small writes matter on a host whose cores are all busy: there the
/// writer's encoding and the database's insert take the CPU from the request threads for as long as they last,
/// and stretch the tail; larger ones cost the database less per event (docs/performance.md, "The audit and the
/// tail", has the measurements behind 200).
public final class AuditWriter: Service, Sendable {
    public struct Event: Sendable {
        public var actor: String
        public var action: String
        public var outcome: String
        public var connectorID: String?
        public var provider: String?
        public var userID: String?
        public var at: Date

        public init(actor: String, action: String, outcome: String, connectorID: String?, provider: String?, userID: String?, at: Date) {
            self.actor = actor
            self.action = action
            self.outcome = outcome
            self.connectorID = connectorID
            self.provider = provider
            self.userID = userID
            self.at = at
        }
    }

    private let pool: PGConnectionPool
    private let logger: Logger
    /// Events not written yet, oldest first, in a ring: appending and dropping the oldest cost the same however
    /// full it is. Events leave it only once written, so a failed write puts nothing back.
    private let buffer = Mutex(Buffer())
    /// Hears how many events a full buffer dropped (for the metrics).
    private let onDrop: @Sendable (Int) -> Void

    private struct Buffer {
        var events = CircularBuffer<Event>(initialCapacity: 1024)
        /// The sequence number of `events.first`: every event ever buffered has one, so a write knows which of the
        /// events it took are still there to remove after the oldest were dropped meanwhile.
        var firstSequence: UInt64 = 0
    }
    private let pacing: Pacing
    /// What the pacing waits by.
    private let time: any TimeSource
    /// Beyond this many unwritten events (a long database outage) the oldest are dropped, and counted.
    private let capacity: Int
    private let dropped = Atomic<Int>(0)

    /// Where failed writes are summarised while the database is away (a write is tried every few milliseconds).
    private let failures: FailureLog
    private static let writeFailures = FailureLog.Kind(condition: "audit writes failing", counted: "writes to retry", level: .warning)

    public init(
        pool: PGConnectionPool, logger: Logger, interval: Duration = .milliseconds(100),
        shortestInterval: Duration = .milliseconds(2), batchSize: Int = 200, capacity: Int = 1_000_000, failures: FailureLog? = nil,
        time: any TimeSource = SystemTime(), onDrop: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        self.time = time
        self.onDrop = onDrop
        self.pool = pool
        self.logger = logger
        self.failures = failures ?? FailureLog(logger: logger)
        self.pacing = Pacing(interval: interval, shortestInterval: shortestInterval, batchSize: batchSize)
        self.capacity = capacity
    }

    public func record(_ event: Event) {
        let overflowed = buffer.withLock { buffer -> Bool in
            buffer.events.append(event)
            guard buffer.events.count > capacity else { return false }
            buffer.events.removeFirst()
            buffer.firstSequence += 1
            return true
        }
        if overflowed {
            dropped.add(1, ordering: .relaxed)
            onDrop(1)
        }
    }

    public var pending: Int { buffer.withLock { $0.events.count } }

    public func run() async throws {
        // Only the wait between flushes ends early on shutdown: a write in progress is never cancelled.
        var wait = pacing.interval
        var previous = time.instant
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await cancelWhenGracefulShutdown { [time, wait] in try? await time.sleep(for: wait) }
            let now = time.instant
            let written = await flush()
            wait = pacing.wait(after: written, arrivedIn: now - previous)
            previous = now
        }
        // Shutting down: the HTTP server has stopped, so this is the last of the events.
        for _ in 0..<50 where pending > 0 {
            await flush()
            // Waiting on the database, not a timing rule: real time.
            if pending > 0 { try? await Task.sleep(for: .milliseconds(100)) }
        }
        if pending > 0 { logger.error("audit events could not be written before shutdown", metadata: ["count": "\(pending)"]) }
    }

    /// Writes what is buffered, in slices of at most 5,000 events, and answers how many events that was. A slice
    /// leaves the buffer only once written; a failed write leaves it where it was for the next flush.
    @discardableResult
    public func flush() async -> Int {
        var written = 0
        var remaining = pending
        while remaining > 0 {
            let (first, slice) = buffer.withLock { buffer in (buffer.firstSequence, Array(buffer.events.prefix(min(remaining, 5_000)))) }
            guard !slice.isEmpty else { break }
            do {
                try await insert(slice[...])
                failures.clear(Self.writeFailures)
            } catch {
                failures.record(Self.writeFailures, "audit write failed; will retry", metadata: ["error": "\(error)", "count": "\(remaining)"])
                return written
            }
            buffer.withLock { buffer in
                // The oldest may have been dropped meanwhile: remove only what is left of this slice.
                let end = first + UInt64(slice.count)
                let done = min(Int(end > buffer.firstSequence ? end - buffer.firstSequence : 0), buffer.events.count)
                buffer.events.removeFirst(done)
                buffer.firstSequence += UInt64(done)
            }
            written += slice.count
            remaining -= slice.count
        }
        let lost = dropped.exchange(0, ordering: .relaxed)
        if lost > 0 { logger.error("audit events dropped while the database was unavailable", metadata: ["count": "\(lost)"]) }
        return written
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

    /// When the next write comes (see the type's documentation).
    struct Pacing: Sendable {
        let interval: Duration
        let shortestInterval: Duration
        let batchSize: Int

        init(interval: Duration, shortestInterval: Duration, batchSize: Int) {
            self.interval = interval
            self.shortestInterval = min(shortestInterval, interval)
            self.batchSize = max(batchSize, 1)
        }

        /// The wait before the next write when the last one took `count` events that had arrived within
        /// `elapsed`: the time the same rate takes to bring `batchSize` more, within `shortestInterval` … `interval`.
        func wait(after count: Int, arrivedIn elapsed: Duration) -> Duration {
            guard count > 0 else { return interval }
            let gather = elapsed * (Double(batchSize) / Double(count))
            return min(max(gather, shortestInterval), interval)
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
            let group =
                groupOf[kind]
                ?? {
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

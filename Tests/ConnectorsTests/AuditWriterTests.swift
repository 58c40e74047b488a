import Foundation
import Logging
import PGClient
import PGTestSupport
import Synchronization
import Testing
import Timekeeping
@testable import Connectors

/// Audit events go to the database in batches, one row per (actor, action, outcome), and read back one by one
/// through the `audit_events` view and `audit_events_between`, with what was written before batches.
@Suite(.enabled(if: TestDatabase.isConfigured)) struct AuditWriterTests {
    static let start = Date(timeIntervalSince1970: 1_764_633_600)

    static func event(_ actor: String, _ outcome: String, _ n: Int, action: String = "resolve", connector: Bool = true) -> AuditWriter.Event {
        AuditWriter.Event(
            actor: actor, action: action, outcome: outcome, connectorID: connector ? "ct_\(n)" : nil, provider: "stripe",
            userID: "u_\(n)", at: start.addingTimeInterval(Double(n)))
    }

    static func events(_ sql: String, on pool: PGConnectionPool) async throws -> [[String?]] {
        try await pool.query(PGQuery(unsafeSQL: sql)).map { row in
            try (0..<6).map { try row.decode(String?.self, at: $0) }
        }
    }

    static let columns = "actor, action, outcome, connector_id, provider, user_id"

    @Test func eventsOfEachKindShareARowAndReadBackOneByOne() async throws {
        try await TestDatabase.withSchema { pool, _ in
            try await ConnectorsSchema.migrator().migrate(on: pool)
            let audit = AuditWriter(pool: pool, logger: Logger(label: "test"))
            var recorded: [AuditWriter.Event] = []
            for n in 0..<1_000 {
                let event =
                    switch n % 10 {
                    case 3: Self.event("gateway", "not_connected", n)
                    case 7: Self.event("session", "started", n, action: "authorize", connector: false)
                    default: Self.event(n.isMultiple(of: 2) ? "gateway" : "mcp", "ok", n)
                    }
                recorded.append(event)
                audit.record(event)
            }
            // A NUL cannot be stored in PostgreSQL's text; it must not keep the batch from being written.
            audit.record(
                AuditWriter.Event(
                    actor: "gateway", action: "resolve", outcome: "invalid_request", connectorID: nil, provider: "stripe", userID: "u\u{0}x",
                    at: Self.start))
            #expect(await audit.flush() == 1_001)
            #expect(audit.pending == 0)

            let batches = try await pool.query(
                "SELECT actor, action, outcome, cardinality(occurred_at), first_at <= last_at FROM audit_batches ORDER BY id")
            let kinds = try batches.map { try $0.decode((String, String, String, Int, Bool).self) }
            #expect(kinds.map(\.0) == ["gateway", "mcp", "gateway", "session", "gateway"])
            #expect(kinds.map(\.2) == ["ok", "ok", "not_connected", "started", "invalid_request"])
            #expect(kinds.map(\.3) == [500, 300, 100, 100, 1])
            #expect(kinds.allSatisfy { $0.4 })

            let stored = try await Self.events(
                "SELECT \(Self.columns) FROM audit_events WHERE outcome <> 'invalid_request' ORDER BY occurred_at", on: pool)
            #expect(stored == recorded.map { [$0.actor, $0.action, $0.outcome, $0.connectorID, $0.provider, $0.userID] })
            let replaced = try await Self.events("SELECT \(Self.columns) FROM audit_events WHERE outcome = 'invalid_request'", on: pool)
            #expect(replaced.first?[5] == "u\u{FFFD}x")

            // Between the 100th and the 200th second: the events in that range and no other.
            let range = try await pool.query(
                "SELECT user_id FROM audit_events_between(\(Self.start.addingTimeInterval(100)), \(Self.start.addingTimeInterval(200))) ORDER BY occurred_at"
            )
            #expect(try range.map { try $0.decode(String.self, at: 0) } == (100..<200).map { "u_\($0)" })
        }
    }

    /// The writer's pacing, on a manual clock: events wait for the interval, then go in one write.
    @Test func eventsWaitForTheIntervalThenGoInOneWrite() async throws {
        try await TestDatabase.withSchema { pool, _ in
            try await ConnectorsSchema.migrator().migrate(on: pool)
            let time = ManualTime()
            let audit = AuditWriter(pool: pool, logger: Logger(label: "test"), interval: .seconds(1), time: time)
            let running = Task { try await audit.run() }
            try await time.waitForSleeps(1)
            for n in 0..<3 { audit.record(Self.event("gateway", "ok", n)) }
            time.advance(by: .milliseconds(999))
            #expect(audit.pending == 3)
            time.advance(by: .milliseconds(1))
            // The write, then the next wait.
            try await time.waitForSleeps(2)
            #expect(audit.pending == 0)
            #expect(try await pool.query("SELECT count(*) FROM audit_batches").first?.decode(Int.self, at: 0) == 1)
            #expect(try await pool.query("SELECT count(*) FROM audit_events").first?.decode(Int.self, at: 0) == 3)
            running.cancel()
            try await running.value
        }
    }

    @Test func rowsWrittenBeforeBatchesStayVisible() async throws {
        try await TestDatabase.withSchema { pool, _ in
            try await PGMigrator(migrations: Array(ConnectorsSchema.migrations.prefix { $0.version < 6 })).migrate(on: pool)
            _ = try await pool.query(
                """
                INSERT INTO audit_events (occurred_at, actor, action, outcome, connector_id, provider, user_id)
                VALUES (\(Self.start), 'gateway', 'resolve', 'ok', 'ct_old', 'stripe', 'u_old')
                """)
            #expect(try await ConnectorsSchema.migrator().migrate(on: pool) == ConnectorsSchema.migrations.map(\.version).filter { $0 >= 6 })
            let audit = AuditWriter(pool: pool, logger: Logger(label: "test"))
            audit.record(Self.event("gateway", "ok", 10))
            #expect(await audit.flush() == 1)

            let all = try await Self.events("SELECT \(Self.columns) FROM audit_events ORDER BY occurred_at", on: pool)
            #expect(all.map { $0[5] } == ["u_old", "u_10"])
            let early = try await pool.query(
                "SELECT connector_id FROM audit_events_between(\(Self.start), \(Self.start.addingTimeInterval(5)))")
            #expect(try early.map { try $0.decode(String.self, at: 0) } == ["ct_old"])
            let late = try await pool.query(
                "SELECT connector_id FROM audit_events_between(\(Self.start.addingTimeInterval(5)), \(Self.start.addingTimeInterval(60)))")
            #expect(try late.map { try $0.decode(String.self, at: 0) } == ["ct_10"])
        }
    }

    /// Nothing written while the database is away is lost: the events wait in the buffer and go out once it answers.
    @Test func aFailedWriteKeepsTheEvents() async throws {
        try await TestDatabase.withSchema { pool, _ in
            try await ConnectorsSchema.migrator().migrate(on: pool)
            _ = try await pool.query("ALTER TABLE audit_batches RENAME TO audit_batches_away")
            let audit = AuditWriter(pool: pool, logger: Logger(label: "test"))
            for n in 0..<3 { audit.record(Self.event("gateway", "ok", n)) }
            #expect(await audit.flush() == 0)
            #expect(audit.pending == 3)
            _ = try await pool.query("ALTER TABLE audit_batches_away RENAME TO audit_batches")
            audit.record(Self.event("gateway", "ok", 3))
            #expect(await audit.flush() == 4)
            let users = try await pool.query("SELECT user_id FROM audit_events ORDER BY occurred_at")
            #expect(try users.map { try $0.decode(String.self, at: 0) } == ["u_0", "u_1", "u_2", "u_3"])
        }
    }

    /// Writes failing while reads work (here: no audit table yet) with the buffer full. Each event still costs the
    /// same (a ring, not an array shifted per event), the oldest are dropped and counted, nothing is written twice,
    /// and what is left is written in order once writes work again.
    @Test(.timeLimit(.minutes(1))) func aFullBufferWithFailingWritesCostsTheSamePerEventAndLosesOnlyTheOldest() async throws {
        try await TestDatabase.withSchema { pool, _ in
            let dropped = Mutex(0)
            let capacity = 100_000
            let audit = AuditWriter(
                pool: pool, logger: Logger(label: "test"), capacity: capacity, onDrop: { count in dropped.withLock { $0 += count } })
            for n in 0..<capacity { audit.record(Self.event("gateway", "ok", n)) }
            #expect(await audit.flush() == 0)  // the table is not there: the write fails, nothing leaves the buffer
            // Another 200,000 into the full buffer: each drops the oldest.
            for n in capacity..<(3 * capacity) { audit.record(Self.event("gateway", "ok", n)) }
            #expect(await audit.flush() == 0)
            #expect(audit.pending == capacity)
            #expect(dropped.withLock { $0 } == 2 * capacity)
            try await ConnectorsSchema.migrator().migrate(on: pool)
            #expect(await audit.flush() == capacity)
            #expect(audit.pending == 0)
            let users = try await pool.query("SELECT user_id FROM audit_events ORDER BY occurred_at").map { try $0.decode(String.self, at: 0) }
            #expect(users.count == capacity)
            #expect(users.first == "u_\(2 * capacity)" && users.last == "u_\(3 * capacity - 1)")
        }
    }
}

/// The writer waits long enough to gather about a batch of events at the rate they last came, within bounds.
struct AuditWriterPacingTests {
    let pacing = AuditWriter.Pacing(interval: .milliseconds(100), shortestInterval: .milliseconds(2), batchSize: 100)

    @Test func aQuietDaemonWritesAtTheLongInterval() {
        #expect(pacing.wait(after: 0, arrivedIn: .milliseconds(100)) == .milliseconds(100))
        // Ten events in 100 ms: a hundred would take a second, longer than the interval.
        #expect(pacing.wait(after: 10, arrivedIn: .milliseconds(100)) == .milliseconds(100))
    }

    @Test func aBusyDaemonWritesAboutABatchAtATime() {
        // 300 events in 10 ms (30k a second): a hundred more arrive in about 3.3 ms.
        let wait = pacing.wait(after: 300, arrivedIn: .milliseconds(10))
        #expect(wait > .microseconds(3_300) && wait < .microseconds(3_400))
        #expect(pacing.wait(after: 100, arrivedIn: .milliseconds(40)) == .milliseconds(40))
    }

    @Test func theWaitNeverFallsBelowTheShortestInterval() {
        #expect(pacing.wait(after: 5_000, arrivedIn: .milliseconds(2)) == .milliseconds(2))
        let odd = AuditWriter.Pacing(interval: .milliseconds(5), shortestInterval: .milliseconds(50), batchSize: 0)
        #expect(odd.shortestInterval == .milliseconds(5))
        #expect(odd.wait(after: 1, arrivedIn: .seconds(1)) == .milliseconds(5))
    }
}

import Foundation
import PGClient
import PGTestSupport
import Testing

@Suite(.enabled(if: TestDatabase.isConfigured)) struct CancellationTests {
    let clock = ContinuousClock()
    /// How soon a cancelled or timed-out statement must end. What stopped it is shown by the error's code; this bound
    /// only tells that from a statement left to run its 60 s, and it is generous because on a loaded 2-core machine
    /// the end (a cancel's thread-pool hop and connection of its own, the server's timer) has taken over 4 s to come.
    static let endsWithin: Duration = .seconds(30)

    @Test func cancellingTheTaskStopsTheStatementOnTheServer() async throws {
        try await TestDatabase.withSchema { pool, _ in
            let marker = "cancel-\(UUID().uuidString)"
            let task = Task { try await pool.query(PGQuery(unsafeSQL: "SELECT pg_sleep(60) -- \(marker)")) }
            // Cancel only once the statement runs on the server (connecting may take a while on a busy machine).
            let running: PGQuery =
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE \("%" + marker) AND state = 'active' AND pid <> pg_backend_pid()"
            for _ in 0..<200 {
                if try await pool.query(running).first?.decode(Int.self, at: 0) == 1 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            let began = clock.now
            task.cancel()
            let error = try await #require(throws: PGError.self) { _ = try await task.value }
            #expect(error.code == .cancelled)
            #expect(error.sqlState == "57014")
            #expect(began.duration(to: clock.now) < Self.endsWithin)
            // Nothing is left running on the server.
            #expect(try await pool.query(running).first?.decode(Int.self, at: 0) == 0)
        }
    }

    @Test func perQueryTimeout() async throws {
        try await TestDatabase.withSchema { pool, _ in
            // The clock measures the statement, not the connection's start.
            _ = try await pool.query("SELECT 1")
            let began = clock.now
            let error = try await #require(throws: PGError.self) {
                _ = try await pool.query("SELECT pg_sleep(60)", timeout: .milliseconds(300))
            }
            #expect(error.code == .statementTimeout)
            #expect(began.duration(to: clock.now) < Self.endsWithin)
            #expect(try await pool.query("SELECT 1").first?.decode(Int.self, at: 0) == 1)
        }
    }

    @Test func poolWideStatementTimeout() async throws {
        try await TestDatabase.withSchema(configure: { $0.statementTimeout = .milliseconds(300) }) { pool, _ in
            _ = try await pool.query("SELECT 1")
            let began = clock.now
            let error = try await #require(throws: PGError.self) { _ = try await pool.query("SELECT pg_sleep(60)") }
            #expect(error.code == .statementTimeout)
            #expect(began.duration(to: clock.now) < Self.endsWithin)
            #expect(try await pool.query("SELECT 1").first?.decode(Int.self, at: 0) == 1)
        }
    }

    @Test func aCancelledTaskNeverSendsItsStatement() async throws {
        try await TestDatabase.withSchema { pool, _ in
            _ = try await pool.query("CREATE TABLE t (v int)")
            let task = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                _ = try await pool.query("INSERT INTO t VALUES (1)")
            }
            await #expect(throws: PGError.self) { try await task.value }
            #expect(try await pool.query("SELECT count(*) FROM t").first?.decode(Int.self, at: 0) == 0)
        }
    }
}

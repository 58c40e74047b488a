import Foundation
import PGClient
import PGTestSupport
import Testing

@Suite(.enabled(if: TestDatabase.isConfigured)) struct CancellationTests {
    let clock = ContinuousClock()

    @Test func cancellingTheTaskStopsTheStatementOnTheServer() async throws {
        try await TestDatabase.withSchema { pool, _ in
            let marker = "cancel-\(UUID().uuidString)"
            let task = Task { try await pool.query(PGQuery(unsafeSQL: "SELECT pg_sleep(10) -- \(marker)")) }
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
            // Far below the 10-second sleep, with room for a machine busy with the other suites.
            #expect(began.duration(to: clock.now) < .seconds(4))
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
                _ = try await pool.query("SELECT pg_sleep(10)", timeout: .milliseconds(300))
            }
            #expect(error.code == .statementTimeout)
            // Far below the 10-second sleep, with room for a machine busy with the other suites.
            #expect(began.duration(to: clock.now) < .seconds(4))
            #expect(try await pool.query("SELECT 1").first?.decode(Int.self, at: 0) == 1)
        }
    }

    @Test func poolWideStatementTimeout() async throws {
        try await TestDatabase.withSchema(configure: { $0.statementTimeout = .milliseconds(300) }) { pool, _ in
            _ = try await pool.query("SELECT 1")
            let began = clock.now
            let error = try await #require(throws: PGError.self) { _ = try await pool.query("SELECT pg_sleep(10)") }
            #expect(error.code == .statementTimeout)
            // Far below the 10-second sleep, with room for a machine busy with the other suites.
            #expect(began.duration(to: clock.now) < .seconds(4))
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

import Foundation
import PGClient
import PGTestSupport
import Testing

@Suite(.enabled(if: TestDatabase.isConfigured)) struct TransactionTests {
    struct Boom: Error {}

    @Test func commitsOnSuccessAndRollsBackOnThrow() async throws {
        try await TestDatabase.withSchema { pool, _ in
            _ = try await pool.query("CREATE TABLE t (v int)")
            try await pool.withTransaction { _ = try await $0.query("INSERT INTO t VALUES (1)") }
            await #expect(throws: Boom.self) {
                try await pool.withTransaction { connection in
                    _ = try await connection.query("INSERT INTO t VALUES (2)")
                    throw Boom()
                }
            }
            let values = try await pool.query("SELECT v FROM t ORDER BY v").map { try $0.decode(Int.self, at: 0) }
            #expect(values == [1])
        }
    }

    @Test func rollsBackWhenTheTaskIsCancelled() async throws {
        try await TestDatabase.withSchema { pool, _ in
            _ = try await pool.query("CREATE TABLE t (v int)")
            let started = AsyncStream.makeStream(of: Void.self)
            let task = Task {
                try await pool.withTransaction { connection in
                    _ = try await connection.query("INSERT INTO t VALUES (1)")
                    started.continuation.yield()
                    _ = try await connection.query("SELECT pg_sleep(10)")
                }
            }
            for await _ in started.stream { break }
            let clock = ContinuousClock()
            let began = clock.now
            task.cancel()
            await #expect(throws: PGError.self) { try await task.value }
            // Alone it takes tens of milliseconds (cancel, ROLLBACK, the task's end); the bound leaves room for a
            // CI machine busy with every other suite (one run there measured 1.3 s), and is still far from 10 s.
            #expect(began.duration(to: clock.now) < .seconds(3))
            #expect(try await pool.query("SELECT count(*) FROM t").first?.decode(Int.self, at: 0) == 0)
            #expect(pool.statistics.inUse == 0)
        }
    }

    @Test func skipLockedLetsTwoTransactionsTakeDifferentRows() async throws {
        try await TestDatabase.withSchema { pool, _ in
            _ = try await pool.query("CREATE TABLE jobs (id int PRIMARY KEY)")
            _ = try await pool.query("INSERT INTO jobs SELECT generate_series(1, 4)")
            let take: PGQuery = "SELECT id FROM jobs ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
            let firstHolds = AsyncStream.makeStream(of: Int.self)
            let release = AsyncStream.makeStream(of: Void.self)
            async let first: Int = pool.withTransaction { connection in
                let id = try #require(try await connection.query(take).first).decode(Int.self, at: 0)
                firstHolds.continuation.yield(id)
                for await _ in release.stream { break }
                return id
            }
            var firstID = 0
            for await id in firstHolds.stream {
                firstID = id
                break
            }
            let secondID = try await pool.withTransaction { connection in
                try #require(try await connection.query(take).first).decode(Int.self, at: 0)
            }
            release.continuation.yield()
            #expect(try await first == firstID)
            #expect(firstID == 1)
            #expect(secondID == 2)
        }
    }
}

import Foundation
import PGClient
import PGLocalCluster
import PGTestSupport
import Testing

@Suite(.enabled(if: TestDatabase.isConfigured)) struct PoolTests {
    @Test func exhaustionWaitsThenFailsWithAClearError() async throws {
        try await TestDatabase.withSchema(maxConnections: 1, configure: { $0.acquireTimeout = .milliseconds(300) }) { pool, _ in
            let release = await holdConnection(of: pool)
            let clock = ContinuousClock()
            let began = clock.now
            let error = try await #require(throws: PGError.self) { _ = try await pool.query("SELECT 1") }
            let waited = began.duration(to: clock.now)
            #expect(error.code == .poolExhausted)
            // Room for a CI machine busy with every other suite (one run there measured over 2 s for a 300 ms timeout).
            #expect(waited >= .milliseconds(250) && waited < .seconds(5))
            #expect(pool.statistics.waiting == 0)

            // A waiter gets the connection as soon as it is returned.
            async let waiter = pool.query("SELECT 42")
            for _ in 0..<200 where pool.statistics.waiting == 0 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(pool.statistics.waiting == 1)
            try await release()
            #expect(try await waiter.first?.decode(Int.self, at: 0) == 42)
        }
    }

    @Test func manyTasksShareFewConnections() async throws {
        try await TestDatabase.withSchema(maxConnections: 3) { pool, _ in
            let sum = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<200 {
                    group.addTask { try #require(try await pool.query("SELECT \(i)::int8").first).decode(Int.self, at: 0) }
                }
                return try await group.reduce(0, +)
            }
            #expect(sum == (0..<200).reduce(0, +))
            #expect(pool.statistics.open <= 3)
        }
    }

    @Test func waitersArrivingOverTimeEachGetTheirOwnTimeout() async throws {
        try await TestDatabase.withSchema(maxConnections: 1, configure: { $0.acquireTimeout = .milliseconds(400) }) { pool, _ in
            // One task holds the only connection until every waiter has given up; twelve waiters arrive 50 ms
            // apart. Each must give up about 400 ms after it arrived, not when the first one did, and none may
            // be left waiting.
            let release = await holdConnection(of: pool)
            let waits = await withTaskGroup(of: Result<Duration, any Error>.self) { group in
                for index in 0..<12 {
                    group.addTask {
                        try? await Task.sleep(for: .milliseconds(50 * index))
                        let began = ContinuousClock.now
                        do {
                            _ = try await pool.query("SELECT 1")
                            return .failure(HeldConnectionWasHandedOut())
                        } catch let error as PGError where error.code == .poolExhausted {
                            return .success(began.duration(to: .now))
                        } catch {
                            return .failure(error)
                        }
                    }
                }
                return await group.reduce(into: [Result<Duration, any Error>]()) { $0.append($1) }
            }
            try await release()
            for wait in waits {
                switch wait {
                case .success(let waited): #expect(waited >= .milliseconds(350) && waited < .seconds(3), "\(waited)")
                case .failure(let error): Issue.record("a waiter did not time out: \(error)")
                }
            }
            #expect(pool.statistics.waiting == 0)
            #expect(try await pool.query("SELECT 7").first?.decode(Int.self, at: 0) == 7)
        }
    }

    @Test func recoversAfterTheServerRestarts() async throws {
        try await TestDatabase.withPrivateCluster { cluster in
            var configuration = PGPoolConfiguration(connection: cluster.connectionConfiguration)
            configuration.maxConnections = 4
            let pool = PGConnectionPool(configuration: configuration)
            defer { Task { await pool.shutdown() } }
            let before = try await withThrowingTaskGroup(of: Int32.self) { group in
                for _ in 0..<4 { group.addTask { try await pool.query("SELECT pg_backend_pid(), pg_sleep(0.05)").first!.decode(Int32.self, at: 0) } }
                return try await group.reduce(into: Set<Int32>()) { $0.insert($1) }
            }
            #expect(before.count == 4)
            try await cluster.restart()
            // Idle connections saw the server close them; a caller may still meet one broken mid-flight, and
            // that error says to retry. Within a few tries every query succeeds on a fresh connection.
            var failures = 0
            for _ in 0..<20 {
                do {
                    let pid = try #require(try await pool.query("SELECT pg_backend_pid()").first).decode(Int32.self, at: 0)
                    #expect(!before.contains(pid))
                } catch let error as PGError {
                    #expect(error.isRetryable, "\(String(reflecting: error))")
                    failures += 1
                }
            }
            #expect(failures <= 1)
            #expect(pool.statistics.open <= 4)
        }
    }

    @Test func failsClearlyWhenTheServerIsGoneAndRecoversWhenItIsBack() async throws {
        try await TestDatabase.withPrivateCluster { cluster in
            var configuration = PGPoolConfiguration(connection: cluster.connectionConfiguration)
            configuration.acquireTimeout = .seconds(2)
            let pool = PGConnectionPool(configuration: configuration)
            defer { Task { await pool.shutdown() } }
            _ = try await pool.query("SELECT 1")
            try await cluster.stop()
            for _ in 0..<3 {
                let error = try await #require(throws: PGError.self) { _ = try await pool.query("SELECT 1") }
                #expect(error.isRetryable)
                #expect(error.code == .connectionClosed || error.code == .connectionFailed)
            }
            try await cluster.start()
            #expect(try await pool.query("SELECT 1").first?.decode(Int.self, at: 0) == 1)
        }
    }

    @Test func maintenanceClosesIdleConnectionsAndKeepsTheMinimum() async throws {
        try await TestDatabase.withSchema(
            maxConnections: 5,
            configure: {
                $0.minConnections = 2
                $0.idleTimeout = .milliseconds(100)
                $0.maintenanceInterval = .milliseconds(50)
            }
        ) { pool, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<5 { group.addTask { _ = try await pool.query("SELECT pg_sleep(0.05)") } }
                try await group.waitForAll()
            }
            #expect(pool.statistics.open == 5)
            let runner = Task { try await pool.run() }
            for _ in 0..<300 where pool.statistics.open != 2 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(pool.statistics.open == 2)
            #expect(pool.statistics.idle == 2)
            runner.cancel()
        }
    }
}

private struct HeldConnectionWasHandedOut: Error {}

/// Takes a connection of `pool` in a task of its own and keeps it until the returned function is called (which
/// waits for the task to end); returns once the connection is held.
private func holdConnection(of pool: PGConnectionPool) async -> @Sendable () async throws -> Void {
    let holding = AsyncStream.makeStream(of: Void.self)
    let release = AsyncStream.makeStream(of: Void.self)
    let holder = Task {
        try await pool.withConnection { _ in
            holding.continuation.yield()
            for await _ in release.stream { break }
        }
    }
    for await _ in holding.stream { break }
    return {
        release.continuation.yield()
        try await holder.value
    }
}

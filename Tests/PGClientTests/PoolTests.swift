import Foundation
import PGClient
import PGLocalCluster
import PGTestSupport
import Synchronization
import Testing
import Timekeeping

/// The pool's timing rules (acquire timeout, idle timeout, health checks, maintenance interval) run here by a
/// `ManualTime` that the test moves forward: they are checked to the millisecond, take no wall-clock time, and
/// mean the same on a loaded machine as on a quiet one. The test only waits, in real time and with a generous
/// bound, for the pool's tasks to settle after each step.
@Suite(.enabled(if: TestDatabase.isConfigured)) struct PoolTests {
    @Test func exhaustionWaitsThenFailsWithAClearError() async throws {
        let time = ManualTime()
        try await TestDatabase.withSchema(
            maxConnections: 1,
            configure: {
                $0.acquireTimeout = .milliseconds(300)
                $0.time = time
            }
        ) { pool, _ in
            let release = await holdConnection(of: pool)
            let waiter = Task { try await pool.query("SELECT 1") }
            try await time.waitForSleeps(1)  // the caller waits, and the pool sleeps until its deadline
            #expect(pool.statistics.waiting == 1)
            time.advance(by: .milliseconds(299))
            #expect(time.sleeping == 1 && pool.statistics.waiting == 1)
            time.advance(by: .milliseconds(1))
            let error = try await #require(throws: PGError.self) { _ = try await waiter.value }
            #expect(error.code == .poolExhausted)
            #expect(pool.statistics.waiting == 0)

            // A waiter gets the connection as soon as it is returned.
            async let second = pool.query("SELECT 42")
            try await settle { pool.statistics.waiting == 1 }
            try await release()
            #expect(try await second.first?.decode(Int.self, at: 0) == 42)
        }
    }

    @Test func manyTasksShareFewConnections() async throws {
        // 200 statements on at most 3 connections: most of them queue for a connection, the last ones for as long as
        // the ones before them take. On a loaded machine that once outlasted the 5 s acquire timeout, measured on the
        // wall clock from each one's arrival, and the test failed with poolExhausted. The timeout is not what this
        // test is about (the ones around it are): by a manual time that nobody moves, no caller ever gives up.
        let time = ManualTime()
        try await TestDatabase.withSchema(maxConnections: 3, configure: { $0.time = time }) { pool, _ in
            let sum = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<200 {
                    group.addTask { try #require(try await pool.query("SELECT \(i)::int8").first).decode(Int.self, at: 0) }
                }
                return try await group.reduce(0, +)
            }
            #expect(sum == (0..<200).reduce(0, +))
            #expect(pool.statistics.open <= 3)
            #expect(pool.statistics.waiting == 0)
        }
    }

    @Test func waitersArrivingOverTimeEachGetTheirOwnTimeout() async throws {
        let time = ManualTime()
        try await TestDatabase.withSchema(
            maxConnections: 1,
            configure: {
                $0.acquireTimeout = .milliseconds(400)
                $0.time = time
            }
        ) { pool, _ in
            // One task holds the only connection until every waiter has given up; twelve waiters arrive 50 ms
            // apart. Each must give up 400 ms after it arrived, not when the first one did, and none may be left
            // waiting. Step by step, 50 ms each: a waiter arrives (the first twelve steps), and those whose 400 ms
            // are up give up.
            let release = await holdConnection(of: pool)
            let arrivals = 12
            let steps = 400 / 50
            let outcomes = Outcomes()
            var waiters: [Task<Void, Never>] = []
            for step in 0...(arrivals - 1 + steps) {
                if step < arrivals {
                    waiters.append(
                        Task {
                            let began = time.instant
                            let outcome: Result<Duration, any Error>
                            do {
                                _ = try await pool.query("SELECT 1")
                                outcome = .failure(HeldConnectionWasHandedOut())
                            } catch let error as PGError where error.code == .poolExhausted {
                                outcome = .success(began.duration(to: time.instant))
                            } catch {
                                outcome = .failure(error)
                            }
                            outcomes.record(step, outcome)
                        })
                }
                let arrived = min(arrivals, step + 1)
                let gaveUp = max(0, min(arrivals, step - steps + 1))
                try await settle { pool.statistics.waiting == arrived - gaveUp && outcomes.count == gaveUp }
                time.advance(by: .milliseconds(50))
            }
            for waiter in waiters { await waiter.value }
            try await release()
            for (step, outcome) in outcomes.all.sorted(by: { $0.key < $1.key }) {
                switch outcome {
                case .success(let waited): #expect(waited == .milliseconds(400), "waiter \(step) waited \(waited)")
                case .failure(let error): Issue.record("waiter \(step) did not time out: \(error)")
                }
            }
            #expect(outcomes.count == arrivals)
            #expect(pool.statistics.waiting == 0)
            #expect(try await pool.query("SELECT 7").first?.decode(Int.self, at: 0) == 7)
        }
    }

    @Test func aConnectionIdlePastTheHealthCheckIntervalAnswersSelect1First() async throws {
        let time = ManualTime()
        try await TestDatabase.withSchema(
            maxConnections: 1,
            configure: {
                $0.healthCheckInterval = .seconds(30)
                $0.time = time
            }
        ) { pool, configuration in
            // What the pool's connection last ran, as the server saw it.
            let observer = try await PGConnection.connect(configuration)
            defer { observer.close() }
            func lastStatement(of connection: PGConnection) async throws -> String? {
                let pid = connection.backendPID
                return try await observer.query("SELECT query FROM pg_stat_activity WHERE pid = \(pid)").first?.decode(String.self, at: 0)
            }
            let pid = try await pool.withConnection { connection in
                _ = try await connection.query("SELECT 'before'")
                return connection.backendPID
            }
            time.advance(by: .seconds(30))
            try await pool.withConnection { connection in
                // Idle for just the interval: trusted as it is.
                #expect(connection.backendPID == pid)
                let last = try await lastStatement(of: connection)
                #expect(last == "SELECT 'before'")
            }
            time.advance(by: .seconds(30) + .milliseconds(1))
            try await pool.withConnection { connection in
                // Idle for longer: checked before the caller has it.
                #expect(connection.backendPID == pid)
                let last = try await lastStatement(of: connection)
                #expect(last == "SELECT 1")
            }
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
        let time = ManualTime()
        try await TestDatabase.withSchema(
            maxConnections: 5,
            configure: {
                $0.minConnections = 2
                $0.idleTimeout = .milliseconds(100)
                $0.maintenanceInterval = .milliseconds(50)
                $0.time = time
            }
        ) { pool, _ in
            // Five connections: each task keeps its own until five are open, so none could be handed an idle one.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<5 { group.addTask { try await pool.withConnection { _ in try await settle { pool.statistics.open == 5 } } } }
                try await group.waitForAll()
            }
            #expect(pool.statistics.open == 5 && pool.statistics.idle == 5)
            let runner = Task { try await pool.run() }
            // A pass at once, then one every 50 ms and none in between. At 0, 50 and 100 ms no connection has been
            // idle for more than the 100 ms timeout; at 150 ms the three above the minimum have.
            for pass in 1...3 {
                try await time.waitForSleeps(pass)  // the pass is done and the loop sleeps until the next
                #expect(pool.statistics.open == 5)
                time.advance(by: .milliseconds(49))
                #expect(time.sleeping == 1 && time.sleepsBegun == pass)
                time.advance(by: .milliseconds(1))
            }
            try await time.waitForSleeps(4)
            #expect(pool.statistics.open == 2)
            #expect(pool.statistics.idle == 2)
            runner.cancel()
            try await runner.value
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

/// How the waiters of a test ended, by the step they arrived at.
private final class Outcomes: Sendable {
    private let outcomes = Mutex<[Int: Result<Duration, any Error>]>([:])

    func record(_ step: Int, _ outcome: Result<Duration, any Error>) { outcomes.withLock { $0[step] = outcome } }
    var count: Int { outcomes.withLock { $0.count } }
    var all: [Int: Result<Duration, any Error>] { outcomes.withLock { $0 } }
}

/// Waits until `condition` holds: the pool's tasks have caught up with the last step of a test. The real-time
/// bound only ends a test whose pool never gets there; it measures nothing.
private func settle(_ condition: () -> Bool) async throws {
    let limit = ContinuousClock.now + .seconds(30)
    while !condition() {
        guard ContinuousClock.now < limit else { throw NeverSettled() }
        try await Task.sleep(for: .milliseconds(2))
    }
}

private struct NeverSettled: Error {}

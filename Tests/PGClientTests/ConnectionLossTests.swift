import Foundation
import PGClient
import PGTestSupport
import Synchronization
import Testing

/// Connections that the network drops under the pool, through a proxy that resets them.
@Suite(.enabled(if: TestDatabase.isConfigured)) struct ConnectionLossTests {
    @Test func aResetWhileStatementsArePipelinedFailsEveryWaiterAndThePoolRecovers() async throws {
        let proxy = try ResettingProxy(to: TestDatabase.configuration())
        defer { proxy.stop() }
        var configuration = PGPoolConfiguration(connection: proxy.configuration)
        configuration.minConnections = 0
        configuration.maxConnections = 2
        configuration.pipelineDepth = 8
        configuration.acquireTimeout = .seconds(2)
        let pool = PGConnectionPool(configuration: configuration)
        let loop = pool.executors[0]
        // Everything runs on the I/O thread that reads the pool's connection: while the test holds that thread,
        // the reset is noticed by the next statement's send, not by a read.
        try await withTaskExecutorPreference(loop) {
            _ = try await pool.query("SELECT 1")  // opens the connection, read by this thread
            let finished = Counter()
            func statement(_ sql: PGQuery, resettingFirst: Bool = false) -> Task<PGRows, any Error> {
                Task(executorPreference: loop) {
                    defer { finished.count.add(1, ordering: .relaxed) }
                    if resettingFirst {
                        proxy.resetAll()
                        usleep(100_000)  // holds the I/O thread: the reset reaches the socket, not the loop
                    }
                    return try await pool.query(sql)
                }
            }
            var statements = (0..<3).map { _ in statement("SELECT pg_sleep(0.5)") }
            for _ in 0..<250 where pool.statistics.pipelined < 3 { try await Task.sleep(for: .milliseconds(10)) }
            try #require(pool.statistics.pipelined == 3 && pool.statistics.shared == 1)
            try await Task.sleep(for: .milliseconds(50))

            // Two more statements in one turn of the I/O thread, before it reads the reset. The first one's write
            // fails, which libpq keeps to itself until it reads; the second send makes it read, find the
            // connection gone and close the socket, so no read will ever tell the statements waiting on it.
            statements.append(statement("SELECT 2", resettingFirst: true))
            statements.append(statement("SELECT 3"))
            for _ in 0..<500 where finished.count.load(ordering: .relaxed) < statements.count {
                try await Task.sleep(for: .milliseconds(10))
            }
            try #require(finished.count.load(ordering: .relaxed) == statements.count, "statements on the reset connection still wait")
            // The statements pipelined on the connection when it went fail; the two sent around the reset either
            // fail with it or, when the pool had already dropped the connection, run on a new one.
            for (index, statement) in statements.enumerated() {
                do {
                    let rows = try await statement.value
                    #expect(index >= 3, "a statement pipelined on the reset connection answered")
                    #expect(try rows.first?.decode(Int.self, at: 0) == index - 1)
                } catch let error as PGError {
                    #expect(error.code == .connectionClosed)
                }
            }
            #expect(try await pool.query("SELECT 3").first?.decode(Int.self, at: 0) == 3)
            #expect(pool.statistics.shared == 0 && pool.statistics.pipelined == 0)
        }
        await pool.shutdown()
    }

    private final class Counter: Sendable {
        let count = Atomic(0)
    }
}

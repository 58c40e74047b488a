import Foundation
import PGClient
import PGTestSupport
import Testing

/// Single statements sharing a connection in pipeline mode (`PGPoolConfiguration.pipelineDepth`): each gets its
/// own answer, runs in its own transaction, and is cancelled or timed out without touching the others.
@Suite(.enabled(if: TestDatabase.isConfigured)) struct PipelineTests {
    let clock = ContinuousClock()
    /// How soon a cancelled or timed-out statement must end. What stopped it is shown by the error's code; this bound
    /// only tells that from a statement left to run its 60 s, and it is generous because on a loaded 2-core machine
    /// the end (a cancel's thread-pool hop and connection of its own, the server's timer) has taken over 4 s to come.
    static let endsWithin: Duration = .seconds(30)

    /// A pool of one connection whose statements may share it, four at a time.
    private func withSharedConnection(
        acquireTimeout: Duration = .seconds(5), _ body: (PGConnectionPool, PGConnectionConfiguration) async throws -> Void
    ) async throws {
        try await TestDatabase.withSchema(
            maxConnections: 1,
            configure: {
                $0.pipelineDepth = 4
                $0.acquireTimeout = acquireTimeout
            }
        ) { pool, configuration in
            _ = try await pool.query("SELECT 1")  // the connection is open and idle
            try await body(pool, configuration)
        }
    }

    /// Waits (on a connection outside the pool) until a statement containing `marker` runs on the server.
    private func waitUntilRunning(_ marker: String, configuration: PGConnectionConfiguration) async throws {
        let observer = try await PGConnection.connect(configuration)
        defer { observer.close() }
        let running: PGQuery = """
            SELECT count(*) FROM pg_stat_activity
            WHERE query LIKE \("%" + marker + "%") AND state = 'active' AND pid <> pg_backend_pid()
            """
        for _ in 0..<250 {
            let count = try await observer.query(running).first?.decode(Int.self, at: 0)
            if count == 1 { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the statement never started")
    }

    @Test func statementsShareTheConnectionAndEachGetsItsOwnAnswer() async throws {
        // Four 300 ms statements at once on the only connection. Had they not shared it, three would have waited
        // for it longer than the 200 ms acquire timeout and failed with poolExhausted.
        try await withSharedConnection(acquireTimeout: .milliseconds(200)) { pool, _ in
            let answers = try await withThrowingTaskGroup(of: (Int, Int, Int32).self) { group in
                for i in 0..<4 {
                    group.addTask {
                        let row = try #require(try await pool.query("SELECT \(i)::int8, pg_backend_pid() FROM pg_sleep(0.3)").first)
                        let (value, pid) = try row.decode((Int, Int32).self)
                        return (i, value, pid)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.count == 4)
            #expect(answers.allSatisfy { $0.0 == $0.1 })
            #expect(Set(answers.map(\.2)).count == 1)
            #expect(pool.statistics.open == 1)
        }
    }

    @Test func manyStatementsFromManyTasksAllGetTheirOwnRows() async throws {
        try await TestDatabase.withSchema(maxConnections: 2, configure: { $0.pipelineDepth = 8 }) { pool, _ in
            _ = try await pool.query("CREATE TABLE items (id int8 PRIMARY KEY, name text NOT NULL)")
            _ = try await pool.query("INSERT INTO items SELECT n, 'item ' || n FROM generate_series(1, 500) n")
            let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
                for task in 0..<16 {
                    group.addTask {
                        var mismatches = 0
                        for step in 0..<100 {
                            let id = (task * 100 + step) % 500 + 1
                            let name = try #require(try await pool.query("SELECT name FROM items WHERE id = \(id)").first).decode(String.self, at: 0)
                            if name != "item \(id)" { mismatches += 1 }
                        }
                        return mismatches
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(mismatches == 0)
            #expect(pool.statistics.open <= 2)
        }
    }

    @Test func aFailingStatementTouchesNoOtherInThePipeline() async throws {
        try await TestDatabase.withSchema(maxConnections: 1, configure: { $0.pipelineDepth = 8 }) { pool, _ in
            _ = try await pool.query("CREATE TABLE t (v int)")
            let outcomes = await withTaskGroup(of: (Int, PGError?).self) { group in
                // The sleep holds the connection so that the others queue behind it in one pipeline.
                group.addTask { ((try? await pool.query("SELECT pg_sleep(0.2)")) == nil ? -1 : -2, nil) }
                for i in 0..<10 {
                    group.addTask {
                        do {
                            _ = try await pool.query(i.isMultiple(of: 2) ? "INSERT INTO t VALUES (\(i))" : "SELECT 1 / 0")
                            return (i, nil)
                        } catch let error as PGError {
                            return (i, error)
                        } catch {
                            return (i, PGError(.protocolViolation, message: "\(error)"))
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            for (i, error) in outcomes where i >= 0 {
                if i.isMultiple(of: 2) {
                    #expect(error == nil, "insert \(i) failed")
                } else {
                    #expect(error?.sqlState == "22012", "statement \(i)")
                }
            }
            let stored = try await pool.query("SELECT v FROM t ORDER BY v").map { try $0.decode(Int.self, at: 0) }
            #expect(stored == [0, 2, 4, 6, 8])
        }
    }

    @Test func aStatementThatCannotBePreparedFailsTheSameWayEveryTime() async throws {
        try await withSharedConnection { pool, _ in
            for _ in 0..<3 {
                let error = try await #require(throws: PGError.self) { _ = try await pool.query("SELEC 1") }
                #expect(error.code == .server)
                #expect(error.sqlState == "42601")
            }
            #expect(try await pool.query("SELECT 5").first?.decode(Int.self, at: 0) == 5)
        }
    }

    @Test func aStatementThatFailsWhenItRunsStaysPrepared() async throws {
        try await withSharedConnection { pool, _ in
            // Prepared on its first use, which fails only when it runs: the server keeps the statement, and the
            // next uses reuse it rather than preparing another copy each time.
            for _ in 0..<5 {
                let error = try await #require(throws: PGError.self) { _ = try await pool.query("SELECT 1 / \(0)") }
                #expect(error.sqlState == "22012")
            }
            let copies = try await pool.query("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT 1 / %'")
            #expect(try copies.first?.decode(Int.self, at: 0) == 1)
        }
    }

    @Test func aStatementBehindAPreparationInFlightDoesNotDependOnIt() async throws {
        try await TestDatabase.withSchema(maxConnections: 1, configure: { $0.pipelineDepth = 8 }) { pool, configuration in
            // Queued behind a statement waiting for a lock the test holds: a SELECT whose preparation fails (its
            // table does not exist yet), the CREATE TABLE, and the same SELECT again, which must not reuse the
            // name the first one was being prepared under.
            _ = try await pool.query("SELECT 1")  // the connection is open and idle, so the statements share it
            let key = Int64.random(in: 1...Int64.max)
            let holder = try await PGConnection.connect(configuration)
            defer { holder.close() }
            _ = try await holder.query("SELECT pg_advisory_lock(\(key))")
            let marker = "pipeline-parse-\(UUID().uuidString)"
            let first = Task { try await pool.query(PGQuery(unsafeSQL: "SELECT 1 FROM pg_advisory_xact_lock(\(key)) -- \(marker)")) }
            try await waitUntilRunning(marker, configuration: configuration)
            var queued: [Task<PGRows, any Error>] = []
            for sql in ["SELECT count(*) FROM later", "CREATE TABLE later (v int)", "SELECT count(*) FROM later"] {
                queued.append(Task { try await pool.query(PGQuery(unsafeSQL: sql)) })
                for _ in 0..<250 where pool.statistics.pipelined < queued.count + 1 { try await Task.sleep(for: .milliseconds(10)) }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(pool.statistics.shared == 1 && pool.statistics.pipelined == 4)
            _ = try await holder.query("SELECT pg_advisory_unlock(\(key))")
            _ = try await first.value
            let error = try await #require(throws: PGError.self) { _ = try await queued[0].value }
            #expect(error.sqlState == "42P01")
            _ = try await queued[1].value
            #expect(try await queued[2].value.first?.decode(Int.self, at: 0) == 0)
            // Prepared once the server knew the table, it is reused from then on.
            #expect(try await pool.query("SELECT count(*) FROM later").first?.decode(Int.self, at: 0) == 0)
        }
    }

    @Test func cancellingOneStatementLeavesTheOneBehindIt() async throws {
        try await withSharedConnection { pool, configuration in
            let marker = "pipeline-cancel-\(UUID().uuidString)"
            let sleeper = Task { try await pool.query(PGQuery(unsafeSQL: "SELECT pg_sleep(60) -- \(marker)")) }
            try await waitUntilRunning(marker, configuration: configuration)
            let behind = Task { try await pool.query("SELECT 7") }
            try await Task.sleep(for: .milliseconds(50))
            let began = clock.now
            sleeper.cancel()
            let error = try await #require(throws: PGError.self) { _ = try await sleeper.value }
            #expect(error.code == .cancelled)
            let seven = try await behind.value.first?.decode(Int.self, at: 0)
            #expect(seven == 7)
            #expect(began.duration(to: clock.now) < Self.endsWithin)
        }
    }

    @Test func aStatementCancelledWhileQueuedIsStoppedWhenItsTurnComes() async throws {
        try await withSharedConnection { pool, configuration in
            // The first statement waits for a lock the test holds, so it is still running when the one queued
            // behind it is cancelled, however slow the machine.
            let key = Int64.random(in: 1...Int64.max)
            let holder = try await PGConnection.connect(configuration)
            defer { holder.close() }
            _ = try await holder.query("SELECT pg_advisory_lock(\(key))")
            let marker = "pipeline-first-\(UUID().uuidString)"
            let first = Task { try await pool.query(PGQuery(unsafeSQL: "SELECT 11 FROM pg_advisory_xact_lock(\(key)) -- \(marker)")) }
            try await waitUntilRunning(marker, configuration: configuration)
            let began = clock.now
            let queued = Task { try await pool.query("SELECT pg_sleep(60)") }
            for _ in 0..<250 where pool.statistics.pipelined < 2 { try await Task.sleep(for: .milliseconds(20)) }
            try await Task.sleep(for: .milliseconds(50))
            // Both statements are on the pool's one connection, which they share.
            #expect(pool.statistics.shared == 1 && pool.statistics.pipelined == 2 && pool.statistics.inUse == 1)
            queued.cancel()
            try await Task.sleep(for: .milliseconds(100))
            _ = try await holder.query("SELECT pg_advisory_unlock(\(key))")
            // The cancel waited for the statement's turn, so the one that was running was not the one stopped.
            let eleven = try await first.value.first?.decode(Int.self, at: 0)
            #expect(eleven == 11)
            let error = try await #require(throws: PGError.self) { _ = try await queued.value }
            #expect(error.code == .cancelled)
            #expect(began.duration(to: clock.now) < Self.endsWithin)
            #expect(try await pool.query("SELECT 3").first?.decode(Int.self, at: 0) == 3)
            #expect(pool.statistics.shared == 0 && pool.statistics.pipelined == 0 && pool.statistics.idle == 1)
        }
    }

    @Test func aTimeoutStopsOnlyItsOwnStatement() async throws {
        try await withSharedConnection { pool, _ in
            let began = clock.now
            let slow = Task { try await pool.query("SELECT pg_sleep(60)", timeout: .milliseconds(300)) }
            try await Task.sleep(for: .milliseconds(50))
            let quick = Task { try await pool.query("SELECT 9") }
            let error = try await #require(throws: PGError.self) { _ = try await slow.value }
            #expect(error.code == .statementTimeout)
            let nine = try await quick.value.first?.decode(Int.self, at: 0)
            #expect(nine == 9)
            #expect(began.duration(to: clock.now) < Self.endsWithin)
        }
    }

    @Test func statementsInFlightFailClearlyWhenTheBackendDiesAndThePoolGoesOn() async throws {
        try await withSharedConnection { pool, configuration in
            let marker = "pipeline-doomed-\(UUID().uuidString)"
            let doomed = (0..<3).map { i in
                Task { try await pool.query(PGQuery(unsafeSQL: "SELECT pg_sleep(10) -- \(marker) \(i)")) }
            }
            try await waitUntilRunning(marker, configuration: configuration)
            try await Task.sleep(for: .milliseconds(50))
            let admin = try await PGConnection.connect(configuration)
            defer { admin.close() }
            _ = try await admin.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE \("%" + marker + "%") AND pid <> pg_backend_pid()")
            for task in doomed {
                let error = try await #require(throws: PGError.self) { _ = try await task.value }
                #expect(error.code == .connectionClosed || error.sqlState == "57P01")
            }
            #expect(try await pool.query("SELECT 4").first?.decode(Int.self, at: 0) == 4)
        }
    }

    @Test func aSharedConnectionServesTransactionsAgainAfterwards() async throws {
        try await withSharedConnection { pool, _ in
            _ = try await pool.query("CREATE TABLE t (v int)")
            async let a = pool.query("INSERT INTO t VALUES (1)")
            async let b = pool.query("INSERT INTO t VALUES (2)")
            _ = try await (a, b)
            struct Rollback: Error {}
            await #expect(throws: Rollback.self) {
                try await pool.withTransaction { connection in
                    _ = try await connection.query("INSERT INTO t VALUES (3)")
                    throw Rollback()
                }
            }
            try await pool.withTransaction { connection in _ = try await connection.query("INSERT INTO t VALUES (4)") }
            let stored = try await pool.query("SELECT v FROM t ORDER BY v").map { try $0.decode(Int.self, at: 0) }
            #expect(stored == [1, 2, 4])
        }
    }
}

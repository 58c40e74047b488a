import Logging
import PGClient

/// Round trips to the benchmark's database, as the server counts them.
///
/// A round trip is a statement the scheduler sends: PGClient sends one statement per Sync, and the scheduler opens no
/// transaction block. `pg_stat_statements` (the cluster preloads it) counts every statement executed, by text; a
/// statement that fails is not in it but rolls its autocommit transaction back, so `pg_stat_database.xact_rollback`
/// counts those. Round trips = executions + rollbacks, in the benchmark's database, the benchmark's own statements
/// (they start with ``RefreshBench/ownTag``) left out. Not counted: the prepare of each statement on its first use on
/// a connection, at most a few per pool connection in a whole run.
///
/// `pg_stat_database`'s transactions are not round trips: a backend that LISTENs reads each batch of notifications
/// in a transaction of its own, so the scheduler's listener adds about one transaction per NOTIFY it receives. They
/// are reported too. The readings are taken from another database (`postgres`), so reading adds nothing; a busy
/// backend publishes its transaction counts at most once a second and an exiting one always, so each reading waits
/// until no client is connected to the benchmark's database.
struct ServerCounters {
    let monitor: PGConnectionPool
    let database: String

    /// `pg_stat_database`'s counts for the benchmark's database.
    struct Transactions {
        var commits: Int64
        var rollbacks: Int64
    }

    /// Connects to the `postgres` database of the cluster `benchmark` points at.
    static func connect(besides benchmark: PGConnectionConfiguration) async throws -> ServerCounters {
        let name = try await PGConnectionPool.currentDatabase(benchmark)
        var connection = benchmark
        connection.set("dbname", "postgres")
        let monitor = PGConnectionPool.bench(connection, connections: 1, minimum: 0)
        do {
            let preload = try await monitor.query("SELECT current_setting('shared_preload_libraries')")
            guard try preload[0].decode(String.self, at: 0).contains("pg_stat_statements") else {
                throw BenchFailure("the cluster must preload pg_stat_statements (shared_preload_libraries) to count statements")
            }
            _ = try await monitor.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        } catch {
            await monitor.shutdown()
            throw error
        }
        return ServerCounters(monitor: monitor, database: name)
    }

    /// Transactions committed and rolled back in the benchmark's database so far, once every client has left it.
    func transactions() async throws -> Transactions {
        try await waitUntilNoClients()
        let rows = try await monitor.query(
            "SELECT xact_commit::bigint, xact_rollback::bigint FROM pg_stat_database WHERE datname = \(database)")
        let (commits, rollbacks) = try rows[0].decode((Int64, Int64).self)
        return Transactions(commits: commits, rollbacks: rollbacks)
    }

    private func waitUntilNoClients() async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let rows = try await monitor.query(
                "SELECT count(*)::bigint FROM pg_stat_activity WHERE datname = \(database) AND backend_type = 'client backend'")
            if try rows[0].decode(Int64.self, at: 0) == 0 { return }
            guard ContinuousClock.now < deadline else { throw BenchFailure("clients still connected to \(database) after 30 s") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Starts the per-statement counts afresh (all databases).
    func resetStatements() async throws {
        _ = try await monitor.query("SELECT pg_stat_statements_reset()::text")
    }

    /// Statements executed in the benchmark's database since the reset, most called first, the benchmark's own left out.
    func statements() async throws -> [StatementCount] {
        let rows = try await monitor.query(
            """
            SELECT calls::bigint, rows::bigint, query FROM pg_stat_statements
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = \(database)) AND NOT starts_with(query, \(RefreshBench.ownTag.description))
            ORDER BY calls DESC
            """)
        return try rows.map { row in
            let (calls, returned, text) = try row.decode((Int64, Int64, String).self)
            return StatementCount(calls: calls, rows: returned, text: text)
        }
    }
}

/// One statement's executions, as `pg_stat_statements` counts them.
struct StatementCount {
    var calls: Int64
    /// Rows returned or changed, over all calls.
    var rows: Int64
    /// The statement, its constants replaced by `$n`.
    var text: String
}

extension PGConnectionPool {
    /// The name of the database `connection` reaches (the URL may leave it to libpq's defaults).
    static func currentDatabase(_ connection: PGConnectionConfiguration) async throws -> String {
        let single = try await PGConnection.connect(connection)
        defer { single.close() }
        return try await single.query("SELECT current_database()::text")[0].decode(String.self, at: 0)
    }

    /// A pool for the benchmark's own use: `connections` at most, `minimum` kept open.
    static func bench(_ connection: PGConnectionConfiguration, connections: Int, minimum: Int, logger: Logger = Logger(label: "refresh-bench"))
        -> PGConnectionPool
    {
        var configuration = PGPoolConfiguration(connection: connection)
        configuration.minConnections = minimum
        configuration.maxConnections = connections
        return PGConnectionPool(configuration: configuration, logger: logger)
    }
}

/// The run could not be measured.
struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

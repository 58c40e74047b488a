// Measures PGClient on the resolver's hot query: a primary-key select on connector_tokens, decoding every
// column, from N concurrent tasks over a pool of N connections. scripts/bench pgclient runs it next to
// pgbench on the same database and query.
//
//   PGClientBench setup URL ROWS          create the schema and ROWS connectors
//   PGClientBench run URL ROWS TASKS SECONDS [loop|global]
//       print transactions per second; the tasks prefer the pool's I/O loop as their executor (default),
//       or run on Swift's global executor
//
// The pool runs with its default configuration, so single statements share connections in pipeline mode
// (PGPoolConfiguration.pipelineDepth); PGCLIENT_BENCH_DEPTH=N sets another depth (1: a connection per statement).
import Connectors
import Foundation
import PGClient

/// The same statement pgbench runs (scripts/bench.d/pgclient-select.sql), `$1` being the row number.
let select: String = """
    SELECT id, user_id, provider, type, status, access_token, refresh_token, expires_at, scopes, metadata
    FROM connector_tokens WHERE id = 'ct_bench_' || $1
    """

func pool(_ url: String, connections: Int) throws -> PGConnectionPool {
    var configuration = PGPoolConfiguration(connection: try PGConnectionConfiguration(url))
    configuration.minConnections = 0
    configuration.maxConnections = connections
    if let depth = ProcessInfo.processInfo.environment["PGCLIENT_BENCH_DEPTH"].flatMap({ Int($0) }) { configuration.pipelineDepth = depth }
    return PGConnectionPool(configuration: configuration)
}

func setup(url: String, rows: Int) async throws {
    let pool = try pool(url, connections: 1)
    try await ConnectorsSchema.migrator().migrate(on: pool)
    _ = try await pool.query("TRUNCATE connector_tokens")
    _ = try await pool.query(
        """
        INSERT INTO connector_tokens (id, user_id, provider, type, access_token, refresh_token, expires_at, scopes, metadata)
        SELECT 'ct_bench_' || n, 'u_' || n, 'gmail', 'oauth',
               decode(md5(n::text) || md5((n + 1)::text) || md5((n + 2)::text), 'hex'),
               decode(md5((n + 3)::text) || md5((n + 4)::text), 'hex'),
               now() + interval '1 hour', ARRAY['https://www.googleapis.com/auth/gmail.readonly'],
               jsonb_build_object('account_name', 'user' || n || '@example.com')
        FROM generate_series(1, \(rows)) n
        """)
    _ = try await pool.query("VACUUM ANALYZE connector_tokens")
    await pool.shutdown()
}

/// One resolve-shaped read: every column decoded, as the store will.
func readOne(_ pool: PGConnectionPool, row: Int) async throws {
    var bindings = PGBindings()
    String(row).encode(into: &bindings)
    let rows = try await pool.query(PGQuery(unsafeSQL: select, bindings: bindings))
    guard let first = rows.first else { fatalError("row \(row) missing") }
    let (_, _, _, _, _, access, _, _, scopes, _) = try first.decode(
        (String, String, String, String, String, [UInt8]?, [UInt8]?, Date?, [String], String).self)
    precondition(access?.count == 48 && scopes.count == 1)
}

/// A small fast generator (SplitMix64), like pgbench's own: the system one costs a syscall per number.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Runs task `index`'s `body` on one of the pool's I/O threads (`onLoop`) or on Swift's global executor.
func onExecutor<T: Sendable>(
    _ pool: PGConnectionPool, index: Int, onLoop: Bool, _ body: @Sendable () async throws -> T
) async throws -> T {
    guard onLoop else { return try await body() }
    let executors = pool.executors
    return try await withTaskExecutorPreference(executors[index % executors.count], operation: body)
}

func run(url: String, rows: Int, tasks: Int, seconds: Double, onLoop: Bool) async throws -> Double {
    let pool = try pool(url, connections: tasks)
    // Warm up: open every connection and prepare the statement on each.
    try await withThrowingTaskGroup(of: Void.self) { group in
        for task in 0..<tasks {
            group.addTask {
                try await onExecutor(pool, index: task, onLoop: onLoop) {
                    for i in 0..<200 { try await readOne(pool, row: (task * 200 + i) % rows + 1) }
                }
            }
        }
        try await group.waitForAll()
    }
    let clock = ContinuousClock()
    let start = clock.now
    let deadline = start + .milliseconds(Int64(seconds * 1000))
    let total = try await withThrowingTaskGroup(of: Int.self) { group in
        for task in 0..<tasks {
            group.addTask {
                try await onExecutor(pool, index: task, onLoop: onLoop) {
                    var generator = SplitMix64(state: UInt64(task) &* 0x2545_F491_4F6C_DD1D)
                    var count = 0
                    while clock.now < deadline {
                        for _ in 0..<64 {
                            try await readOne(pool, row: Int.random(in: 1...rows, using: &generator))
                            count += 1
                        }
                    }
                    return count
                }
            }
        }
        return try await group.reduce(0, +)
    }
    let elapsed = start.duration(to: clock.now)
    await pool.shutdown()
    return Double(total) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}

let arguments = CommandLine.arguments
switch (arguments.count > 1 ? arguments[1] : "", arguments.count) {
case ("setup", 4):
    try await setup(url: arguments[2], rows: Int(arguments[3])!)
case ("run", 6), ("run", 7):
    let onLoop = arguments.count == 6 || arguments[6] == "loop"
    let tps = try await run(
        url: arguments[2], rows: Int(arguments[3])!, tasks: Int(arguments[4])!, seconds: Double(arguments[5])!, onLoop: onLoop)
    print(String(format: "%.1f", tps))
default:
    FileHandle.standardError.write(Data("usage: PGClientBench setup URL ROWS | run URL ROWS TASKS SECONDS [loop|global]\n".utf8))
    exit(2)
}

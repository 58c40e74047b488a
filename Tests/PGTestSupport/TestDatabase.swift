import Foundation
public import PGClient
public import PGLocalCluster

/// The PostgreSQL server the test script started (`RESOLVERD_TEST_DATABASE_URL`), and helpers that give each
/// test a schema of its own so tests run in parallel.
public enum TestDatabase {
    public static let urlVariable = "RESOLVERD_TEST_DATABASE_URL"

    /// True when integration tests can run. The test script always sets the URL. Under CI (`CI` set) it is true
    /// even without one: an integration suite there fails for want of its database instead of quietly skipping.
    public static var isConfigured: Bool {
        let environment = ProcessInfo.processInfo.environment
        return !(environment[urlVariable] ?? "").isEmpty || !(environment["CI"] ?? "").isEmpty
    }

    public static func configuration() throws -> PGConnectionConfiguration {
        guard let url = ProcessInfo.processInfo.environment[urlVariable], !url.isEmpty else {
            throw PGError(.invalidConfiguration, message: "\(urlVariable) is not set; run the tests with scripts/test")
        }
        return try PGConnectionConfiguration(url)
    }

    /// Runs `body` with a pool whose `search_path` is a fresh schema, dropped afterwards.
    public static func withSchema(
        maxConnections: Int = 4, configure: (inout PGPoolConfiguration) -> Void = { _ in },
        _ body: (PGConnectionPool, PGConnectionConfiguration) async throws -> Void
    ) async throws {
        let base = try configuration()
        let schema = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        let admin = try await PGConnection.connect(base)
        defer { admin.close() }
        try await admin.execute(unsafeSQL: "CREATE SCHEMA \(schema)")
        var connection = base
        connection.addServerSetting("search_path", String(schema))
        var poolConfiguration = PGPoolConfiguration(connection: connection)
        poolConfiguration.minConnections = 0
        poolConfiguration.maxConnections = maxConnections
        configure(&poolConfiguration)
        let pool = PGConnectionPool(configuration: poolConfiguration)
        do {
            try await body(pool, connection)
            await pool.shutdown()
            try await admin.execute(unsafeSQL: "DROP SCHEMA \(schema) CASCADE")
        } catch {
            await pool.shutdown()
            try? await admin.execute(unsafeSQL: "DROP SCHEMA \(schema) CASCADE")
            throw error
        }
    }

    /// Runs `body` with a private cluster of its own (for tests that stop or restart the server).
    public static func withPrivateCluster(_ body: (PGLocalCluster) async throws -> Void) async throws {
        let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("resolverd-test-\(UUID().uuidString.prefix(8))")
        var options = PGLocalCluster.Options(dataDirectory: directory)
        options.systemUser = ProcessInfo.processInfo.environment["RESOLVERD_TEST_PG_USER"] ?? "resolverd-pg"
        let cluster = try PGLocalCluster(options: options)
        try await cluster.start()
        do {
            try await body(cluster)
            try? await cluster.stop()
            try? cluster.destroy()
        } catch {
            try? await cluster.stop()
            try? cluster.destroy()
            throw error
        }
    }
}

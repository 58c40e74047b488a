import Foundation
import Logging
import PGClient
import PGLocalCluster

/// Opens the configured database, or the embedded development cluster, for the length of a command.
enum DatabaseHandle {
    static func with<R>(settings: DaemonSettings, logger: Logger, _ body: (PGConnectionPool) async throws -> R) async throws -> R {
        var startedCluster: PGLocalCluster?
        let connection: PGConnectionConfiguration
        if let configured = settings.database {
            connection = configured
        } else {
            let cluster = try DevelopmentSetup(dataDirectory: settings.dataDirectory).cluster
            if try await !cluster.isRunning() {
                logger.notice("starting the embedded development PostgreSQL", metadata: ["data_dir": "\(settings.dataDirectory.path)"])
                try await cluster.start()
                startedCluster = cluster
            }
            connection = cluster.connectionConfiguration
        }
        var configuration = PGPoolConfiguration(connection: connection.namedResolverd)
        configuration.minConnections = 0
        configuration.maxConnections = 2
        let pool = PGConnectionPool(configuration: configuration, logger: logger)
        do {
            let result = try await body(pool)
            await pool.shutdown()
            try await startedCluster?.stop()
            return result
        } catch {
            await pool.shutdown()
            try? await startedCluster?.stop()
            throw error
        }
    }
}

extension PGConnectionConfiguration {
    /// The configuration with `resolverd` as the application name PostgreSQL shows (`pg_stat_activity`), unless
    /// the operator named one.
    var namedResolverd: PGConnectionConfiguration {
        guard self["fallback_application_name"] == nil else { return self }
        var named = self
        named.set("fallback_application_name", "resolverd")
        return named
    }
}

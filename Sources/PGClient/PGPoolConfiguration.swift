public import Timekeeping

/// How a ``PGConnectionPool`` connects and how many connections it keeps.
public struct PGPoolConfiguration: Sendable {
    public var connection: PGConnectionConfiguration
    /// Connections kept open even when idle.
    public var minConnections: Int = 1
    /// The most connections open at once.
    public var maxConnections: Int = 10
    /// How long a caller waits for a free connection before ``PGError/Code/poolExhausted``.
    public var acquireTimeout: Duration = .seconds(5)
    /// Idle connections above `minConnections` are closed after this long unused.
    public var idleTimeout: Duration = .seconds(60)
    /// Idle connections unused this long get a `SELECT 1` before they are trusted again.
    public var healthCheckInterval: Duration = .seconds(30)
    /// A server-side limit for every statement (PostgreSQL's `statement_timeout`); nil keeps the server's.
    public var statementTimeout: Duration?
    /// How many single statements (``PGConnectionPool/query(_:timeout:)``) may share one connection at once, in
    /// libpq's pipeline mode, each with its own sync point and so its own transaction. Sharing spares the server
    /// and the client a wake-up per statement; 1 or less gives every statement a connection of its own.
    public var pipelineDepth: Int = 4
    /// How often the pool's `run()` closes idle connections, checks health and tops up to the minimum.
    public var maintenanceInterval: Duration = .seconds(1)
    /// The clock the timing rules above run by (idle timeout, health checks, acquire timeout, maintenance
    /// interval): the system's in the daemon, a `ManualTime` in tests of those rules.
    public var time: any TimeSource = SystemTime()

    public init(connection: PGConnectionConfiguration) {
        self.connection = connection
    }

    /// The connection configuration with the pool's session settings applied.
    var effectiveConnection: PGConnectionConfiguration {
        var connection = connection
        if let statementTimeout {
            let milliseconds = statementTimeout.components.seconds * 1000 + statementTimeout.components.attoseconds / 1_000_000_000_000_000
            connection.addServerSetting("statement_timeout", "\(max(1, milliseconds))")
        }
        return connection
    }
}

import Connectors
import Logging
import PGClient
import ResolverCrypto

/// Everything the routes need, built once at start.
struct ResolverRuntime: Sendable {
    var pool: PGConnectionPool
    var keyring: Keyring
    var store: ConnectorStore
    var resolver: Resolver
    var tokens: ServicesTokenBox
    var metrics: ResolverMetrics
    var audit: AuditWriter
    var migrator: PGMigrator
    var logger: Logger

    init(pool: PGConnectionPool, keyring: Keyring, tokens: ServicesTokenBox, logger: Logger) {
        self.pool = pool
        self.keyring = keyring
        self.store = ConnectorStore(pool: pool, cipher: CredentialCipher(keyring: keyring))
        self.resolver = Resolver(store: store)
        self.tokens = tokens
        self.metrics = ResolverMetrics()
        self.audit = AuditWriter(pool: pool, logger: logger)
        self.migrator = ConnectorsSchema.migrator()
        self.logger = logger
    }
}

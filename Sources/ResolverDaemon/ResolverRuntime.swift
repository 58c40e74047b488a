import Connectors
import FailureLogging
import Logging
import PGClient
import RefreshScheduler
import ResolverCrypto
import Timekeeping

/// Everything the routes need, built once at start.
struct ResolverRuntime: Sendable {
    var pool: PGConnectionPool
    var keyring: Keyring
    var store: ConnectorStore
    /// Resolve answers through the cache.
    var answers: CachedResolver
    var tokens: ServicesTokenBox
    var metrics: ResolverMetrics
    var audit: AuditWriter
    var migrator: PGMigrator
    var cache: ResolveCache { answers.cache }
    /// Resolves the API listener's fast path is reading; shutdown waits for them before the audit's last flush.
    var fastPathReads = FastPathReads()
    var connectors: ConnectorsRuntime
    var scheduler: RefreshScheduler
    /// Readiness includes the scheduler's loop (the daemon runs it; route tests do not).
    var schedulerRequired = false
    var logger: Logger
    /// Where failures that repeat per request or per connector are summarised (`RESOLVERD_LOG_SUMMARY_SECONDS`).
    var failures: FailureLog
    /// The time every timing rule runs by: the scheduler's waits and pauses, expiries, grants, the audit's pacing.
    var time: any TimeSource

    init(
        pool: PGConnectionPool, keyring: Keyring, tokens: ServicesTokenBox, logger: Logger, cacheSize: Int = 10_000,
        connectorsSettings: ConnectorsSettings? = nil, providerRequestLog: (@Sendable (ProviderRequestRecord) -> Void)? = nil,
        failures: FailureLog? = nil, time: any TimeSource = SystemTime()
    ) {
        self.time = time
        let failures = failures ?? FailureLog(logger: logger)
        self.failures = failures
        // Without a config file: the built-in catalog (its validity is a unit test), no clients, no session keys.
        let connectorsSettings = connectorsSettings ?? (try! ConnectorsSettings(file: nil, listen: ListenAddress(host: "127.0.0.1", port: 8080)))
        self.pool = pool
        self.keyring = keyring
        let metrics = ResolverMetrics()
        self.store = ConnectorStore(
            pool: pool, cipher: CredentialCipher(keyring: keyring), observeReads: { metrics.recordResolveRead(connectors: $0) })
        let schedulerLogger = logger
        let providers = ProviderClient(timeout: connectorsSettings.providerTimeout, requestLog: providerRequestLog)
        self.scheduler = RefreshScheduler(
            store: store, catalog: connectorsSettings.catalog, registrations: connectorsSettings.registrations, client: providers,
            configuration: connectorsSettings.refresh,
            listener: PGListener(configuration: pool.configuration.connection, logger: schedulerLogger, failures: failures),
            logger: logger,
            observe: { provider, outcome, duration in metrics.recordRefresh(provider: provider, outcome: outcome.rawValue, duration: duration) },
            failures: failures, time: time)
        self.tokens = tokens
        self.metrics = metrics
        self.audit = AuditWriter(pool: pool, logger: logger, failures: failures, time: time, onDrop: { metrics.recordAuditDropped($0) })
        self.migrator = ConnectorsSchema.migrator()
        self.answers = CachedResolver(
            resolver: Resolver(store: store, refresh: scheduler.resolverHook, time: time), cache: ResolveCache(capacity: cacheSize))
        let apiKeys = APIKeyStore(pool: pool)
        self.connectors = ConnectorsRuntime(
            settings: connectorsSettings, client: providers,
            grants: GrantStore(pool: pool, cipher: store.cipher, time: time), apiKeys: apiKeys,
            authenticator: UserAuthenticator(apiKeys: apiKeys, sessions: connectorsSettings.sessionVerifier, services: tokens),
            audit: audit, failures: failures)
        self.logger = logger
    }

    /// The service that keeps the cache true to the database; the cache serves only while it runs.
    func cacheInvalidator() -> CacheInvalidator {
        CacheInvalidator(
            listener: PGListener(configuration: pool.configuration.connection, logger: logger, failures: failures), cache: cache, logger: logger)
    }
}

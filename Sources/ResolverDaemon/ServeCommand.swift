import ArgumentParser
import Connectors
import FailureLogging
import Foundation
import Logging
import PGClient
import PGLocalCluster
import RefreshScheduler
import ResolverCrypto
import ServiceLifecycle
import UnixSignals

/// `resolverd serve`: the daemon.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the daemon: the resolver API, probes and metrics.",
        discussion: """
            Reads DATABASE_URL, RESOLVERD_LISTEN, RESOLVERD_ADMIN_LISTEN, RESOLVERD_SERVICES_TOKENS_FILE, RESOLVERD_KEYS_DIR, \
            RESOLVERD_ACTIVE_KEY, RESOLVERD_MIGRATE_ON_START, RESOLVERD_CACHE_SIZE and RESOLVERD_LOG_LEVEL. Without DATABASE_URL it runs the \
            development setup under RESOLVERD_DATA_DIR. SIGHUP re-reads the services tokens and the keys; SIGTERM drains \
            requests and audit events, then exits.
            """
    )

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        MemoryTuning.apply(environment: environment)
        let settings = try DaemonSettings(environment: environment)
        PGIOLoop.useThreads(settings.pgIOThreads, namePrefix: "resolverd-pgio")
        DaemonLogging.bootstrap(level: settings.logLevel)
        let logger = Logger(label: "resolverd")

        var connection = settings.database
        var keysDirectory = settings.keysDirectory
        var tokensFile = settings.servicesTokensFile
        var migrate = settings.migrateOnStart
        var development: DevelopmentSetup?
        var startedCluster = false
        if settings.isDevelopmentSetup {
            let setup = try DevelopmentSetup(dataDirectory: settings.dataDirectory)
            startedCluster = try await setup.prepare(logger: logger)
            connection = setup.cluster.connectionConfiguration
            keysDirectory = keysDirectory ?? setup.keysDirectory
            tokensFile = tokensFile ?? setup.tokensFile
            migrate = true
            development = setup
        }
        do {
            try await serve(
                settings: settings, connection: connection!, keysDirectory: keysDirectory!, tokensFile: tokensFile, migrate: migrate,
                development: development, environment: environment, logger: logger)
        } catch {
            if startedCluster { try? await development?.cluster.stop() }
            throw error
        }
        if startedCluster { try await development?.cluster.stop() }
    }

    private func serve(
        settings: DaemonSettings, connection: PGConnectionConfiguration, keysDirectory: String, tokensFile: String?, migrate: Bool,
        development: DevelopmentSetup?, environment: [String: String], logger: Logger
    ) async throws {
        let keyring: Keyring
        do {
            keyring = try Keyring(directory: keysDirectory, activeKeyID: settings.activeKeyID)
        } catch let error as CryptoError {
            throw SettingsError(setting: "RESOLVERD_KEYS_DIR", reason: "\(error)")
        }
        let connectorsSettings = try settings.connectorsSettings()
        let tokens = ServicesTokenBox(try tokensFile.map(ServicesTokens.load) ?? ServicesTokens(entries: []), path: tokensFile)
        if tokens.current.entries.isEmpty { logger.warning("no services tokens configured: the internal API refuses every call") }

        var poolConfiguration = PGPoolConfiguration(connection: connection.namedResolverd)
        poolConfiguration.minConnections = 2
        poolConfiguration.maxConnections = settings.poolSize
        poolConfiguration.pipelineDepth = settings.pipelineDepth
        let failures = FailureLog(logger: logger, interval: settings.logSummaryInterval)
        let pool = PGConnectionPool(configuration: poolConfiguration, logger: logger, failures: failures)
        var runtime = ResolverRuntime(
            pool: pool, keyring: keyring, tokens: tokens, logger: logger,
            cacheSize: settings.cacheSize ?? connectorsSettings.cacheSize ?? DaemonSettings.defaultCacheSize,
            connectorsSettings: connectorsSettings, failures: failures)
        runtime.schedulerRequired = true
        if migrate { try await runtime.migrator.migrate(on: pool) }
        try await development?.seed(store: runtime.store, logger: logger)

        var options = DaemonOptions(listen: settings.listen, adminListen: settings.adminListen, limits: settings.listenerLimits)
        options.environment = environment
        options.gracefulShutdownSignals = [.sigterm, .sigint]
        options.reloadsOnHangup = true
        options.onAPIRunning = { MemoryTuning.pageOutStartupCode(logger: logger) }
        let daemon = buildDaemon(runtime: runtime, options: options)
        logger.info("resolverd serving", metadata: ["listen": "\(settings.listen)", "admin_listen": "\(settings.adminListen)"])
        try await daemon.group.run()
    }
}

/// Re-reads the services tokens and the key files on SIGHUP, keeping the old ones when a file is wrong.
struct HangupReloader: Service {
    let tokens: ServicesTokenBox
    let keyring: Keyring
    /// Providers paused for a refused client configuration try again: the operator says it is fixed.
    let scheduler: RefreshScheduler?
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            do {
                try tokens.reload()
                try keyring.reload()
                scheduler?.resume()
                logger.notice(
                    "reloaded services tokens and keys", metadata: ["tokens": "\(tokens.current.entries.count)", "keys": "\(keyring.keyIDs.count)"])
            } catch {
                logger.error("reload failed; keeping the previous tokens and keys", metadata: ["error": "\(error)"])
            }
        }
    }
}

import Connectors
import Foundation
import Logging
import PGClient
import PGTestSupport
import ProviderFakes
import RefreshScheduler
import ResolverCrypto

/// One run: seed the connectors, make them all due in one statement, let one scheduler renew them, and measure the
/// time until the last is written and the round trips it took.
struct RefreshBench {
    let settings: BenchSettings
    /// Starts the benchmark's own statements in the benchmark database, so the per-statement counts leave them out.
    static let ownTag: StaticString = "/* refresh-bench */"

    private let logger: Logger = {
        var logger = Logger(label: "refresh-bench", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .warning
        return logger
    }()

    init(settings: BenchSettings) {
        self.settings = settings
    }

    func run() async throws -> BenchResult {
        let fake = try await FakeOAuthProvider.start()  // rotates refresh tokens, as by default
        let counters: ServerCounters
        do {
            counters = try await ServerCounters.connect(besides: try PGConnectionConfiguration(settings.databaseURL))
        } catch {
            await fake.shutdown()
            throw error
        }
        do {
            let result = try await run(fake: fake, counters: counters)
            await counters.monitor.shutdown()
            await fake.shutdown()
            return result
        } catch {
            await counters.monitor.shutdown()
            await fake.shutdown()
            throw error
        }
    }

    private func run(fake: FakeOAuthProvider, counters: ServerCounters) async throws -> BenchResult {
        let connection = try PGConnectionConfiguration(settings.databaseURL)
        let providers = try FakeProviderCatalog(fake: fake)
        let cipher = CredentialCipher(keyring: try Keyring(keys: ["bench-1": SymmetricKey(size: .bits256)]))

        progress("seeding \(settings.connectors) connectors...")
        let seedPool = pool(connection, connections: settings.databaseConnections, minimum: 0)
        do {
            try await ConnectorsSchema.migrator().migrate(on: seedPool)
            _ = try await seedPool.query("TRUNCATE connector_tokens")
            try await seedConnectors(
                store: ConnectorStore(pool: seedPool, cipher: cipher), fake: fake, provider: FakeProviderCatalog.slug,
                count: settings.connectors, workers: settings.databaseConnections)
            _ = try await seedPool.query("VACUUM ANALYZE connector_tokens")
        } catch {
            await seedPool.shutdown()
            throw error
        }
        await seedPool.shutdown()
        fake.setFault(.slow(settings.providerLatency))  // every endpoint, the token endpoint included

        let transactionsBefore = try await counters.transactions()
        try await counters.resetStatements()
        let tally = OutcomeTally()
        let schedulerPool = pool(connection, connections: settings.databaseConnections, minimum: 2)
        let scheduler = RefreshScheduler(
            store: ConnectorStore(pool: schedulerPool, cipher: cipher), catalog: providers.catalog,
            registrations: ProviderRegistrations(clients: providers.clients),
            client: ProviderClient(timeout: .seconds(15)), configuration: schedulerConfiguration(),
            listener: PGListener(configuration: connection, logger: logger), logger: logger,
            observe: { _, outcome, duration in tally.record(outcome, duration) })
        let driver = pool(connection, connections: 1, minimum: 0)

        progress("refreshing...")
        // The scheduler stops (its refreshes in flight written) before its pool closes.
        let burst = try await whileRunning([scheduler]) { try await measureBurst(driver: driver, fake: fake) }
        await schedulerPool.shutdown()
        await driver.shutdown()
        let transactionsAfter = try await counters.transactions()
        return BenchResult(
            settings: settings, seconds: burst.seconds, statements: try await counters.statements(),
            failedStatements: transactionsAfter.rollbacks - transactionsBefore.rollbacks,
            transactions: transactionsAfter.commits + transactionsAfter.rollbacks - transactionsBefore.commits - transactionsBefore.rollbacks
                - Int64(burst.ownStatements),
            outcomes: tally.snapshot, provider: fake.counters, cpu: burst.cpu)
    }

    private struct Burst {
        var seconds: Double
        /// Statements the benchmark itself sent to the benchmark database.
        var ownStatements: Int
        /// The machine's CPU over the burst, where it can be read.
        var cpu: MachineCPU?
    }

    /// From one statement making every connector due (and announcing it, as any write does) to the moment the last
    /// refreshed token is written. The provider's grant counter is watched first, in memory; the database confirms.
    private func measureBurst(driver: PGConnectionPool, fake: FakeOAuthProvider) async throws -> Burst {
        let tag = Self.ownTag
        let slug = FakeProviderCatalog.slug
        _ = try await driver.query("\(unsafe: tag) SELECT 1")  // the connection is open before the clock starts
        try await Task.sleep(for: .seconds(1))  // the scheduler has looked once and is listening, idle
        var ownStatements = 1

        let clock = ContinuousClock()
        let cpuBefore = MachineCPU.sample()
        let start = clock.now
        let due = try await driver.query(
            """
            \(unsafe: tag) WITH due AS (UPDATE connector_tokens SET next_refresh_at = now() WHERE provider = \(slug) RETURNING id)
            SELECT count(*)::bigint, pg_notify(\(ConnectorStore.changeChannel), '{}')::text FROM due
            """)
        ownStatements += 1
        guard try due[0].decode(Int64.self, at: 0) == settings.connectors else { throw BenchFailure("not every connector was made due") }

        let deadline = start + settings.timeout
        while fake.counters.refreshGrants < settings.connectors {
            guard clock.now < deadline else { throw BenchFailure("\(fake.counters.refreshGrants) refreshes after \(settings.timeout)") }
            try await Task.sleep(for: .milliseconds(2))
        }
        while true {
            let left = try await driver.query(
                "\(unsafe: tag) SELECT count(*)::bigint FROM connector_tokens WHERE provider = \(slug) AND last_refreshed_at IS NULL")
            ownStatements += 1
            if try left[0].decode(Int64.self, at: 0) == 0 { break }
            guard clock.now < deadline else { throw BenchFailure("refreshes not written after \(settings.timeout)") }
            try await Task.sleep(for: .milliseconds(1))
        }
        let seconds = start.duration(to: clock.now).seconds
        let cpu = MachineCPU.sample().flatMap { after in cpuBefore.map { after - $0 } }
        return Burst(seconds: seconds, ownStatements: ownStatements, cpu: cpu)
    }

    /// The defaults a replica runs with, but for the concurrency (overall and per provider: there is one provider)
    /// and the batch size.
    private func schedulerConfiguration() -> RefreshConfiguration {
        var configuration = RefreshConfiguration()
        configuration.concurrency = settings.concurrency
        configuration.perProviderConcurrency = settings.concurrency
        configuration.batchSize = settings.batchSize
        return configuration
    }

    private func pool(_ connection: PGConnectionConfiguration, connections: Int, minimum: Int) -> PGConnectionPool {
        PGConnectionPool.bench(connection, connections: connections, minimum: minimum, logger: logger)
    }

    private func progress(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}

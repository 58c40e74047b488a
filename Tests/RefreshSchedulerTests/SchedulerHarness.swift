import Connectors
import FailureLogging
import Foundation
import Hummingbird
import Logging
import PGClient
import PGLocalCluster
import PGTestSupport
import ProviderFakes
import RefreshScheduler
import ResolverCrypto
import ServiceLifecycle
import Synchronization
import Testing

/// A schema of its own, a store, a fake OAuth provider described to the catalog as `fake_oauth`, and schedulers
/// on them: everything real but the provider, which is a real HTTP server on loopback.
struct SchedulerHarness {
    let pool: PGConnectionPool
    let connection: PGConnectionConfiguration
    let store: ConnectorStore
    let fake: FakeOAuthProvider
    let catalog: ProviderCatalog
    let clients: [String: OAuthClient]

    /// The private cluster the harness runs on, when it asked for one (to stop and start the server mid-test).
    var cluster: PGLocalCluster? = nil

    static func with(
        fake configuration: FakeOAuthProvider.Configuration = .init(), maxConnections: Int = 8, privateCluster: Bool = false,
        _ body: (SchedulerHarness) async throws -> Void
    ) async throws {
        let fake = try await FakeOAuthProvider.start(configuration)
        func run(pool: PGConnectionPool, connection: PGConnectionConfiguration, cluster: PGLocalCluster?) async throws {
            try await ConnectorsSchema.migrator().migrate(on: pool)
            let keyring = try Keyring(keys: ["k1": SymmetricKey(size: .bits256)])
            let store = ConnectorStore(pool: pool, cipher: CredentialCipher(keyring: keyring))
            let entry = try JSONValue.parse(Array(fake.catalogEntry().utf8))
            let catalog = try ProviderCatalog.builtIn().applying(patches: [:], additions: [entry])
            let clients = ["fake_oauth": OAuthClient(clientID: fake.configuration.clientID, clientSecret: fake.configuration.clientSecret)]
            try await body(
                SchedulerHarness(pool: pool, connection: connection, store: store, fake: fake, catalog: catalog, clients: clients, cluster: cluster))
        }
        do {
            if privateCluster {
                try await TestDatabase.withPrivateCluster { cluster in
                    var configuration = PGPoolConfiguration(connection: cluster.connectionConfiguration)
                    configuration.maxConnections = maxConnections
                    let pool = PGConnectionPool(configuration: configuration)
                    do {
                        try await run(pool: pool, connection: cluster.connectionConfiguration, cluster: cluster)
                    } catch {
                        await pool.shutdown()
                        throw error
                    }
                    await pool.shutdown()
                }
            } else {
                try await TestDatabase.withSchema(maxConnections: maxConnections) { pool, connection in
                    try await run(pool: pool, connection: connection, cluster: nil)
                }
            }
        } catch {
            await fake.shutdown()
            throw error
        }
        await fake.shutdown()
    }

    /// A scheduler as a replica runs it, with quick backoff for tests.
    func scheduler(
        owner: String = RefreshConfiguration.defaultOwner(), concurrency: Int = 8, perProvider: Int? = nil, webhook: WebhookConfiguration? = nil,
        lease: Duration = .seconds(10), failures: FailureLog? = nil, clients: [String: OAuthClient]? = nil
    ) -> RefreshScheduler {
        var configuration = RefreshConfiguration(owner: owner)
        configuration.concurrency = concurrency
        configuration.perProviderConcurrency = perProvider ?? concurrency
        configuration.baseBackoff = .milliseconds(200)
        configuration.maximumBackoff = .seconds(2)
        configuration.lease = lease
        configuration.idleCheck = .seconds(1)
        configuration.webhook = webhook
        return RefreshScheduler(
            store: store, catalog: catalog, registrations: ProviderRegistrations(clients: clients ?? self.clients),
            client: ProviderClient(timeout: .seconds(5)),
            configuration: configuration,
            listener: PGListener(configuration: connection), logger: Logger(label: "test.scheduler"), failures: failures)
    }

    /// A connector holding a grant the fake just issued, due for refresh `dueIn` from now.
    @discardableResult
    func seed(user: String, expiresIn: TimeInterval = 3600, dueIn: TimeInterval? = 0) async throws -> (record: ConnectorRecord, refreshToken: String?)
    {
        let issued = fake.issueTokens()
        let record = try await store.put(
            userID: user, provider: "fake_oauth",
            credential: Credential(
                type: .oauth, accessToken: issued.accessToken, refreshToken: issued.refreshToken, expiresAt: Date().addingTimeInterval(expiresIn)),
            nextRefreshAt: dueIn.map { Date().addingTimeInterval($0) })
        return (record, issued.refreshToken)
    }

    /// Runs `schedulers` as services while `body` runs, then shuts them down gracefully.
    func running(_ schedulers: [RefreshScheduler], _ body: () async throws -> Void) async throws {
        try await whileRunning(schedulers, body)
    }

    /// Polls `condition` every 50 ms (never blocking a thread) until it holds or `timeout` passes.
    func eventually(timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    /// Records a test issue when `condition` does not come to hold within `timeout`.
    func expectEventually(
        _ what: String, timeout: Duration = .seconds(15), sourceLocation: SourceLocation = #_sourceLocation, _ condition: () async throws -> Bool
    ) async throws {
        let held = try await eventually(timeout: timeout, condition)
        if !held { Issue.record("not within \(timeout): \(what)", sourceLocation: sourceLocation) }
    }

    func column<T: PGDecodable>(_ sql: StaticString, id: String, as: T.Type) async throws -> T {
        let rows = try await pool.query("\(unsafe: sql) WHERE id = \(id)")
        return try rows[0].decode(T.self, at: 0)
    }
}

/// A webhook receiver on loopback that keeps what it is sent.
final class WebhookReceiver: Sendable {
    struct Delivery: Sendable {
        var headers: [String: String]
        var body: [UInt8]
    }

    final class Inbox: Sendable {
        let deliveries = Mutex<[Delivery]>([])
    }

    let inbox: Inbox
    let url: String
    private let task: Task<Void, any Error>

    private init(inbox: Inbox, url: String, task: Task<Void, any Error>) {
        self.inbox = inbox
        self.url = url
        self.task = task
    }

    var deliveries: [Delivery] { inbox.deliveries.withLock { $0 } }

    static func start() async throws -> WebhookReceiver {
        let inbox = Inbox()
        let router = Router()
        router.post("/hook") { request, _ -> HTTPResponse.Status in
            let body = try await request.body.collect(upTo: 1 << 16)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName.lowercased()] = field.value }
            inbox.deliveries.withLock { $0.append(Delivery(headers: headers, body: Array(body.readableBytesView))) }
            return .noContent
        }
        let port = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.continuation.yield(channel.localAddress?.port ?? 0) })
        let task = Task { try await app.run() }
        var iterator = port.stream.makeAsyncIterator()
        let bound = await iterator.next() ?? 0
        return WebhookReceiver(inbox: inbox, url: "http://127.0.0.1:\(bound)/hook", task: task)
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}

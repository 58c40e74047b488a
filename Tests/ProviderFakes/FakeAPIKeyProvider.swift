import Hummingbird
public import Logging
import Synchronization

/// An API-key service on loopback, like Stripe or PostHog: it names the account of a valid key and can revoke keys.
public final class FakeAPIKeyProvider: FakeProvider {
    /// `http://127.0.0.1:PORT`.
    public let baseURL: String
    /// The `id` it answers for the account, `acct_…`.
    public var accountID: String { service.accountID }
    /// The failure switches every endpoint consults.
    public var faults: FaultInjection { service.faults }

    private let service: APIKeyService
    private let server: LoopbackServer

    private init(service: APIKeyService, server: LoopbackServer) {
        self.service = service
        self.server = server
        self.baseURL = "http://127.0.0.1:\(server.port)"
    }

    /// Starts a server on 127.0.0.1 with an ephemeral port that accepts `acceptedKeys`; `logger` (silent by default) is
    /// Hummingbird's.
    public static func start(
        acceptedKeys: [String],
        accountName: String = "Fake Account",
        logger: Logger = Logger(label: "provider-fakes.apikey", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> FakeAPIKeyProvider {
        let service = APIKeyService(acceptedKeys: acceptedKeys, accountName: accountName)
        let router = Router(context: FakeRequestContext.self)
        router.add(middleware: FaultMiddleware(faults: service.faults))
        APIKeyRoutes(service: service).register(on: router)
        let server = try await LoopbackServer.start(router: router, name: "fake-apikey", logger: logger)
        return FakeAPIKeyProvider(service: service, server: server)
    }

    /// Stops the server, cutting off requests in flight, and waits until its socket is closed.
    public func shutdown() async {
        await server.shutdown()
    }

    /// Starts accepting `key` too, as after the user creates a new one.
    public func accept(key: String) {
        service.ledger.withLock { _ = $0.accepted.insert(key) }
    }

    /// Revokes `key` as the user would in the provider's dashboard; later requests with it are answered 401.
    public func revoke(key: String) {
        service.ledger.withLock { _ = $0.revoked.insert(key) }
    }

    /// What the server has answered so far.
    public var counters: APIKeyCounters {
        var counters = service.ledger.withLock { $0.counters }
        counters.faultsInjected = faults.injectedCount
        return counters
    }

    /// True once `key` was revoked, through `/v1/revoke` or `revoke(key:)`.
    public func isRevoked(key: String) -> Bool {
        service.ledger.withLock { $0.revoked.contains(key) }
    }
}

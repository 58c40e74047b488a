import Hummingbird
public import Logging
import Synchronization

/// An OAuth 2.0 authorization server on loopback: authorization code with PKCE, refresh with rotation, revocation and
/// user info, plus switches that make it deny, revoke or fail the way real providers do. It also speaks two
/// non-standard grants at their providers' paths: Meta's `fb_exchange_token` (at `/token`, by GET or POST) and GitHub
/// App installation tokens (`POST /app/installations/{id}/access_tokens`).
public final class FakeOAuthProvider: FakeProvider {
    /// `http://127.0.0.1:PORT`.
    public let baseURL: String
    /// The configuration it runs with, including the generated client secret.
    public var configuration: Configuration { authority.configuration }
    /// The failure switches every endpoint consults.
    public var faults: FaultInjection { authority.faults }

    private let authority: OAuthAuthority
    private let server: LoopbackServer

    private init(authority: OAuthAuthority, server: LoopbackServer) {
        self.authority = authority
        self.server = server
        self.baseURL = "http://127.0.0.1:\(server.port)"
    }

    /// Starts a server on 127.0.0.1 with an ephemeral port; `logger` (silent by default) is Hummingbird's. Throws when
    /// the configured GitHub App public key does not load.
    public static func start(
        _ configuration: Configuration = .init(),
        logger: Logger = Logger(label: "provider-fakes.oauth", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> FakeOAuthProvider {
        let authority = try OAuthAuthority(configuration: configuration)
        let router = Router(context: FakeRequestContext.self)
        router.add(middleware: FaultMiddleware(faults: authority.faults))
        OAuthRoutes(authority: authority).register(on: router)
        let server = try await LoopbackServer.start(router: router, name: "fake-oauth", logger: logger)
        return FakeOAuthProvider(authority: authority, server: server)
    }

    /// Runs `body` with a fake started with `configuration`, and stops it however `body` ends.
    public static func with<Result>(
        _ configuration: Configuration, _ body: (FakeOAuthProvider) async throws -> Result
    ) async throws -> Result {
        let fake = try await start(configuration)
        do {
            let result = try await body(fake)
            await fake.shutdown()
            return result
        } catch {
            await fake.shutdown()
            throw error
        }
    }

    /// Stops the server, cutting off requests in flight, and waits until its socket is closed.
    public func shutdown() async {
        await server.shutdown()
    }

    /// The authorization endpoint.
    public var authorizationURL: String { baseURL + "/authorize" }
    /// The token endpoint, Meta's `fb_exchange_token` grant included.
    public var tokenURL: String { baseURL + "/token" }
    /// The revocation endpoint (RFC 7009).
    public var revocationURL: String { baseURL + "/revoke" }
    /// The user-info endpoint.
    public var userinfoURL: String { baseURL + "/userinfo" }

    // MARK: Switches

    /// Makes the next otherwise valid authorization request redirect with `error=access_denied`.
    public func denyNextAuthorization() {
        authority.ledger.withLock { $0.denyNextAuthorization = true }
    }

    /// Makes every grant issued so far refuse to refresh with `invalid_grant`, as after a password change.
    public func revokeAllRefreshTokens() {
        authority.ledger.withLock { $0.revokeAllRefreshTokens() }
    }

    /// Makes `refreshToken`'s grant refuse to refresh with `invalid_grant`; false for a token it never issued.
    @discardableResult
    public func invalidate(refreshToken: String) -> Bool {
        authority.ledger.withLock { $0.invalidate(refreshToken: refreshToken) }
    }

    /// Removes a GitHub App installation, as when the user uninstalls the app: its tokens stop working and requests
    /// for new ones are answered 404.
    public func uninstall(installationID: String) {
        authority.ledger.withLock { $0.uninstall(installationID: installationID) }
    }

    /// Moves the server's clock forward, so codes and access tokens expire without waiting.
    public func advanceClock(by duration: Duration) {
        authority.ledger.withLock { $0.clockOffset += duration }
    }

    /// Mints a grant as a completed authorization would, without counting an exchange; for seeding many connectors.
    public func issueTokens(scopes: [String]? = nil) -> (accessToken: String, refreshToken: String?, expiresIn: Int?) {
        let issued = authority.ledger.withLock { $0.startGrant(scopes: scopes ?? configuration.scopes).issued }
        return (issued.accessToken, issued.refreshToken, issued.expiresIn)
    }

    // MARK: Observations

    /// What the server has answered so far.
    public var counters: OAuthCounters {
        var counters = authority.ledger.withLock { $0.counters }
        counters.faultsInjected = faults.injectedCount
        return counters
    }

    /// `/token` requests carrying this `grant_type`, answered well or not; "" counts requests without one.
    public func tokenRequests(grantType: String) -> Int {
        authority.ledger.withLock { $0.tokenRequests[grantType, default: 0] }
    }

    /// True for an access or refresh token that was issued and then revoked (through `/revoke`, a reused code or a switch).
    public func isRevoked(token: String) -> Bool {
        authority.ledger.withLock { $0.isRevoked(token) }
    }

    /// True when `/userinfo` would accept `accessToken` now.
    public func isValid(accessToken: String) -> Bool {
        authority.ledger.withLock { $0.isValid(accessToken: accessToken) }
    }

    /// True when `refreshToken` would be accepted by the `refresh_token` grant now.
    public func isValid(refreshToken: String) -> Bool {
        authority.ledger.withLock { $0.isValid(refreshToken: refreshToken) }
    }
}

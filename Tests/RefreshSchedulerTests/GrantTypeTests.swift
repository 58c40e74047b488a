import Connectors
import Dispatch
import Foundation
import Glibc
import Logging
import PGClient
import PGLocalCluster
import PGTestSupport
import ProviderFakes
import RefreshScheduler
import ResolverCrypto
import Testing

/// The grants that are not RFC 6749's refresh: Meta's long-lived token exchange and GitHub App installation tokens,
/// through the scheduler; and the fake's Shopify-style grace for rotated refresh tokens, through the provider client.
/// The scheduler tests need the test database; the others need nothing running.
struct GrantTypeTests {
    /// The GitHub App's key pair, generated once per run.
    private static let appKey = Task { try await RSAKeyPair.generate() }
    private static let appID = "424242"

    // MARK: Meta

    @Test(.enabled(if: TestDatabase.isConfigured))
    func aMetaTokenIsReExchangedForALongLivedOneBeforeItExpires() async throws {
        try await SchedulerHarness.with(fake: .init(issueRefreshToken: false)) { harness in
            let catalog = try harness.catalog(adding: harness.metaEntry)
            let issued = harness.fake.issueTokens()
            #expect(issued.refreshToken == nil)
            let record = try await harness.store.put(
                userID: "u_meta", provider: "fake_meta",
                credential: Credential(type: .oauth, accessToken: issued.accessToken, expiresAt: Date().addingTimeInterval(3600)),
                nextRefreshAt: Date())
            try await harness.running([harness.scheduler(catalog: catalog, clients: ["fake_meta": harness.oauthClient])]) {
                try await harness.expectEventually("the token was exchanged and written") {
                    try await harness.column("SELECT last_refreshed_at IS NOT NULL FROM connector_tokens", id: record.id, as: Bool.self)
                }
            }
            #expect(harness.fake.counters.longLivedExchanges == 1)
            #expect(harness.fake.tokenRequests(grantType: "fb_exchange_token") == 1)
            let secrets = try await harness.store.secrets(of: record.id)
            let access = try #require(secrets.accessToken)
            #expect(access != issued.accessToken && harness.fake.isValid(accessToken: access))
            #expect(secrets.refreshToken == nil)
            // Meta does not revoke the token it exchanged.
            #expect(harness.fake.isValid(accessToken: issued.accessToken))
            let resolved = try #require(try await harness.store.resolve(id: record.id))
            let expiresAt = try #require(resolved.record.expiresAt)
            #expect(abs(expiresAt.timeIntervalSinceNow - 5_184_000) < 120)
            let next = try await harness.column("SELECT next_refresh_at FROM connector_tokens", id: record.id, as: Date.self)
            #expect(next < expiresAt && next.timeIntervalSinceNow > 30 * 86_400)
            let status = try await harness.column("SELECT status FROM connector_tokens", id: record.id, as: String.self)
            #expect(status == "connected")
        }
    }

    @Test(.enabled(if: TestDatabase.isConfigured))
    func aMetaTokenTheProviderNoLongerKnowsNeedsReauth() async throws {
        try await SchedulerHarness.with(fake: .init(accessTokenLifetime: .seconds(60), issueRefreshToken: false)) { harness in
            let catalog = try harness.catalog(adding: harness.metaEntry)
            // One token Meta never issued (subcode 467), one that has expired (subcode 463).
            let unknown = try await harness.store.put(
                userID: "u_meta_unknown", provider: "fake_meta",
                credential: Credential(type: .oauth, accessToken: "fake_at_never_issued", expiresAt: Date().addingTimeInterval(3600)),
                nextRefreshAt: Date())
            let expired = try await harness.store.put(
                userID: "u_meta_expired", provider: "fake_meta",
                credential: Credential(type: .oauth, accessToken: harness.fake.issueTokens().accessToken, expiresAt: Date()),
                nextRefreshAt: Date())
            harness.fake.advanceClock(by: .seconds(120))
            try await harness.running([harness.scheduler(catalog: catalog, clients: ["fake_meta": harness.oauthClient])]) {
                for record in [unknown, expired] {
                    try await harness.expectEventually("\(record.userID) needs reauth") {
                        try await harness.column("SELECT status FROM connector_tokens", id: record.id, as: String.self) == "needs_reauth"
                    }
                }
            }
            for record in [unknown, expired] {
                let error = try await harness.column("SELECT last_refresh_error FROM connector_tokens", id: record.id, as: String?.self)
                #expect(error?.contains("190") == true)
            }
            #expect(harness.fake.counters.failedLongLivedExchanges == 2)
            #expect(harness.fake.counters.longLivedExchanges == 0)
        }
    }

    @Test func theMetaExchangeTakesAGETQueryOrAPOSTForm() async throws {
        try await Self.withFake(.init(issueRefreshToken: false)) { fake in
            let client = OAuthClient(clientID: fake.configuration.clientID, clientSecret: fake.configuration.clientSecret)
            let issued = fake.issueTokens()
            for (auth, method) in [("query", "GET"), ("client_secret_post", "POST")] {
                let provider = try Self.definition(SchedulerHarness.metaEntry(baseURL: fake.baseURL, clientAuth: auth, method: method))
                let tokens = try await ProviderClient().refresh(
                    provider: provider, client: client, refreshToken: nil, accessToken: issued.accessToken, values: TemplateValues())
                #expect(tokens.refreshToken == nil && tokens.expiresIn == 5_184_000 && tokens.facts["token_type"] == "bearer")
                #expect(fake.isValid(accessToken: tokens.accessToken))
            }
            #expect(fake.counters.longLivedExchanges == 2)
            // A wrong secret is Meta's code 1, not a token error.
            let provider = try Self.definition(SchedulerHarness.metaEntry(baseURL: fake.baseURL))
            let failure = await Self.failure {
                _ = try await ProviderClient().refresh(
                    provider: provider, client: OAuthClient(clientID: client.clientID, clientSecret: "wrong"), refreshToken: nil,
                    accessToken: issued.accessToken, values: TemplateValues())
            }
            #expect(failure == "rejected 1 permanent=false 400")
            #expect(fake.counters.invalidClientRequests == 1)
        }
    }

    // MARK: GitHub App

    @Test(.enabled(if: TestDatabase.isConfigured))
    func aGitHubAppInstallationTokenIsRenewedFromTheAppsJWT() async throws {
        let key = try await Self.appKey.value
        try await SchedulerHarness.with(fake: .init(githubAppID: Self.appID, githubAppPublicKeyPEM: key.publicKeyPEM)) { harness in
            let catalog = try harness.catalog(adding: harness.githubAppEntry)
            let apps = ["fake_github_app": try GitHubApp(appID: Self.appID, privateKeyPEM: key.privateKeyPEM)]
            let record = try await harness.putInstallation(user: "u_github", installationID: "1")
            try await harness.running([harness.scheduler(catalog: catalog, apps: apps)]) {
                try await harness.expectEventually("the installation token was written") {
                    try await harness.column("SELECT last_refreshed_at IS NOT NULL FROM connector_tokens", id: record.id, as: Bool.self)
                }
            }
            #expect(harness.fake.counters.installationTokens == 1)
            let access = try #require(try await harness.store.secrets(of: record.id).accessToken)
            #expect(access.hasPrefix("ghs_") && harness.fake.isValid(accessToken: access))
            let resolved = try #require(try await harness.store.resolve(id: record.id))
            let expiresAt = try #require(resolved.record.expiresAt)
            #expect(abs(expiresAt.timeIntervalSinceNow - 3600) < 120)
            let next = try await harness.column("SELECT next_refresh_at FROM connector_tokens", id: record.id, as: Date.self)
            #expect(next < expiresAt && next.timeIntervalSinceNow > 0)
        }
    }

    @Test(.enabled(if: TestDatabase.isConfigured))
    func anUnknownGitHubInstallationNeedsReauth() async throws {
        let key = try await Self.appKey.value
        try await SchedulerHarness.with(fake: .init(githubAppID: Self.appID, githubAppPublicKeyPEM: key.publicKeyPEM)) { harness in
            let catalog = try harness.catalog(adding: harness.githubAppEntry)
            let apps = ["fake_github_app": try GitHubApp(appID: Self.appID, privateKeyPEM: key.privateKeyPEM)]
            let record = try await harness.putInstallation(user: "u_github_gone", installationID: "2")
            try await harness.running([harness.scheduler(catalog: catalog, apps: apps)]) {
                try await harness.expectEventually("the connector needs reauth") {
                    try await harness.column("SELECT status FROM connector_tokens", id: record.id, as: String.self) == "needs_reauth"
                }
            }
            let error = try await harness.column("SELECT last_refresh_error FROM connector_tokens", id: record.id, as: String?.self)
            #expect(error?.contains("404") == true)
            #expect(harness.fake.counters.failedInstallationTokens == 1 && harness.fake.counters.installationTokens == 0)
        }
    }

    @Test func installationTokensNeedThisAppsJWTAndAnInstallation() async throws {
        let key = try await Self.appKey.value
        let other = try await RSAKeyPair.generate()
        try await Self.withFake(.init(githubAppID: Self.appID, githubAppPublicKeyPEM: key.publicKeyPEM)) { fake in
            let provider = try Self.definition(SchedulerHarness.githubAppEntry(baseURL: fake.baseURL))
            let app = try GitHubApp(appID: Self.appID, privateKeyPEM: key.privateKeyPEM)
            let installation = TemplateValues(settings: ["installation_id": "1"])

            let tokens = try await ProviderClient().installationToken(provider: provider, app: app, values: installation)
            #expect(tokens.accessToken.hasPrefix("ghs_") && tokens.accessToken.count == 40 && tokens.refreshToken == nil)
            #expect(abs((tokens.expiresIn ?? 0) - 3600) < 60)
            #expect(fake.isValid(accessToken: tokens.accessToken))

            // Another app's id, or this id with another key: 401, which only a new installation fixes.
            let wrongID = try GitHubApp(appID: "1", privateKeyPEM: key.privateKeyPEM)
            let wrongKey = try GitHubApp(appID: Self.appID, privateKeyPEM: other.privateKeyPEM)
            for stranger in [wrongID, wrongKey] {
                let failure = await Self.failure {
                    _ = try await ProviderClient().installationToken(provider: provider, app: stranger, values: installation)
                }
                #expect(failure == "rejected http_401 permanent=true 401")
            }
            fake.uninstall(installationID: "1")
            #expect(!fake.isValid(accessToken: tokens.accessToken))
            let failure = await Self.failure { _ = try await ProviderClient().installationToken(provider: provider, app: app, values: installation) }
            #expect(failure == "rejected http_404 permanent=true 404")
            #expect(fake.counters.installationTokens == 1 && fake.counters.failedInstallationTokens == 3)
        }
    }

    // MARK: Grace for rotated refresh tokens

    @Test func aRotatedRefreshTokenStaysValidUntilItsSuccessorIsUsed() async throws {
        try await Self.withFake(.init(keepPreviousRefreshTokenUntilSuccessorUsed: true)) { fake in
            let provider = try Self.definition(fake.catalogEntry())
            let client = OAuthClient(clientID: fake.configuration.clientID, clientSecret: fake.configuration.clientSecret)
            func refresh(_ token: String) async throws -> String {
                let tokens = try await ProviderClient().refresh(
                    provider: provider, client: client, refreshToken: token, accessToken: "", values: TemplateValues())
                return try #require(tokens.refreshToken)
            }
            let rt1 = try #require(fake.issueTokens().refreshToken)
            let rt2 = try await refresh(rt1)
            #expect(rt2 != rt1 && fake.isValid(refreshToken: rt1) && fake.isValid(refreshToken: rt2))
            // RT2 was never used: RT1 still refreshes, and its new successor replaces RT2.
            let rt3 = try await refresh(rt1)
            #expect(rt3 != rt2 && fake.isValid(refreshToken: rt1) && fake.isValid(refreshToken: rt3) && !fake.isValid(refreshToken: rt2))
            // Using the successor ends its predecessor's grace.
            let rt4 = try await refresh(rt3)
            #expect(fake.isValid(refreshToken: rt3) && fake.isValid(refreshToken: rt4) && !fake.isValid(refreshToken: rt1))
            let dead = await Self.failure { _ = try await refresh(rt1) }
            #expect(dead == "rejected invalid_grant permanent=true 400")
            let replaced = await Self.failure { _ = try await refresh(rt2) }
            #expect(replaced == "rejected invalid_grant permanent=true 400")
            #expect(fake.counters.refreshGrants == 3 && fake.counters.failedRefreshGrants == 2)
        }
    }

    // MARK: Helpers

    /// Runs `body` with a fake started with `configuration`, and stops it however `body` ends.
    private static func withFake(_ configuration: FakeOAuthProvider.Configuration, _ body: (FakeOAuthProvider) async throws -> Void) async throws {
        try await FakeOAuthProvider.with(configuration, body)
    }

    private static func definition(_ entry: String) throws -> ProviderDefinition {
        try JSONCoding.decoder.decode(ProviderDefinition.self, from: Data(entry.utf8))
    }

    /// How `body` failed, as "rejected CODE permanent=BOOL STATUS" or the error itself; "none" when it did not fail.
    private static func failure(_ body: () async throws -> Void) async -> String {
        do {
            try await body()
            return "none"
        } catch ProviderFailure.rejected(let code, let permanent, let status) {
            return "rejected \(code) permanent=\(permanent) \(status)"
        } catch {
            return "\(error)"
        }
    }
}

// MARK: - Catalog entries and schedulers for these grants

extension SchedulerHarness {
    /// The harness's OAuth client, which the fake also takes for Meta's exchange.
    var oauthClient: OAuthClient { clients["fake_oauth"]! }

    /// `fake_meta`: Meta's long-lived exchange at the fake's token endpoint, as `meta_ads` describes it.
    var metaEntry: String { Self.metaEntry(baseURL: fake.baseURL) }

    /// `fake_github_app`: installation tokens from the fake, per the connector's `installation_id` setting.
    var githubAppEntry: String { Self.githubAppEntry(baseURL: fake.baseURL) }

    static func metaEntry(baseURL: String, clientAuth: String = "query", method: String = "GET") -> String {
        """
        {"slug": "fake_meta", "name": "Fake Meta", "type": "oauth", "roles": ["source"], "settings": [],
         "oauth": {"authorize_url": "\(baseURL)/authorize", "token_url": "\(baseURL)/token", "client_auth": "\(clientAuth)",
                   "token_request_method": "\(method)", "pkce": "supported", "scopes": ["ads_read"], "scope_separator": ",",
                   "grant_type": "meta_long_lived", "refresh_token_rotation": "none_issued", "error_style": "meta",
                   "permanent_errors": ["190"]},
         "test": {"url": "\(baseURL)/userinfo", "method": "GET", "headers": {"Authorization": "Bearer {access_token}"}}}
        """
    }

    static func githubAppEntry(baseURL: String) -> String {
        """
        {"slug": "fake_github_app", "name": "Fake GitHub App", "type": "oauth", "roles": ["source"],
         "settings": [{"name": "installation_id", "description": "the app's installation", "required": true}],
         "oauth": {"authorize_url": "\(baseURL)/authorize", "token_url": "\(baseURL)/token", "client_auth": "client_secret_post",
                   "pkce": "none", "scopes": [], "grant_type": "github_app_installation", "refresh_token_rotation": "none_issued",
                   "installation_token_url": "\(baseURL)/app/installations/{settings.installation_id}/access_tokens",
                   "error_style": "github"},
         "test": {"url": "\(baseURL)/userinfo", "method": "GET", "headers": {"Authorization": "Bearer {access_token}"}}}
        """
    }

    /// The harness's catalog with `entry` (a provider in the catalog file's format) added.
    func catalog(adding entry: String) throws -> ProviderCatalog {
        try catalog.applying(patches: [:], additions: [try JSONValue.parse(Array(entry.utf8))])
    }

    /// A scheduler like `scheduler()`, over `catalog` with these OAuth clients and GitHub Apps.
    func scheduler(catalog: ProviderCatalog, clients: [String: OAuthClient] = [:], apps: [String: GitHubApp] = [:]) -> RefreshScheduler {
        var configuration = RefreshConfiguration(owner: RefreshConfiguration.defaultOwner())
        configuration.baseBackoff = .milliseconds(200)
        configuration.maximumBackoff = .seconds(2)
        configuration.idleCheck = .seconds(1)
        return RefreshScheduler(
            store: store, catalog: catalog, registrations: ProviderRegistrations(clients: clients, apps: apps),
            client: ProviderClient(timeout: .seconds(5)),
            configuration: configuration, listener: PGListener(configuration: connection), logger: Logger(label: "test.scheduler"))
    }

    /// A `fake_github_app` connector for `installationID`, due now, holding a placeholder that was never a token.
    func putInstallation(user: String, installationID: String) async throws -> ConnectorRecord {
        try await store.put(
            userID: user, provider: "fake_github_app",
            credential: Credential(type: .oauth, accessToken: "ghs_placeholder", expiresAt: Date()),
            settingsJSON: #"{"installation_id": "\#(installationID)"}"#, nextRefreshAt: Date())
    }
}

// MARK: - Test keys

/// An RSA 2048 key pair made with `openssl genpkey` for the test run, never stored in the source.
struct RSAKeyPair: Sendable {
    var privateKeyPEM: String
    var publicKeyPEM: String

    /// Runs openssl off the cooperative pool: spawning and waiting block.
    static func generate() async throws -> RSAKeyPair {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try generateBlocking() }) }
        }
    }

    private static func generateBlocking() throws -> RSAKeyPair {
        let directory = NSTemporaryDirectory() + "resolverd-grant-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", directory + "/app.pem"])
        try run(["pkey", "-in", directory + "/app.pem", "-pubout", "-out", directory + "/app.pub"])
        return RSAKeyPair(
            privateKeyPEM: try String(contentsOfFile: directory + "/app.pem", encoding: .utf8),
            publicKeyPEM: try String(contentsOfFile: directory + "/app.pub", encoding: .utf8))
    }

    /// `openssl arguments…`, its output kept for the failure message.
    private static func run(_ arguments: [String]) throws {
        let outcome = try ChildProcess.run("/usr/bin/env", ["openssl"] + arguments)
        guard outcome.status == 0 else { throw KeyGenerationFailed(output: outcome.output) }
    }

    struct KeyGenerationFailed: Error, CustomStringConvertible {
        var output: String
        var description: String { "openssl failed: \(output)" }
    }
}

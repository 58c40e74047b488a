import AsyncHTTPClient
import Connectors
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import ProviderFakes
import ResolverCrypto
import Synchronization
import Timekeeping
@testable import ResolverDaemon

/// A daemon whose config file points a custom OAuth provider (`fake_oauth`) at a fake authorization server and
/// Stripe at a fake API-key service, with a session-JWT secret and a redirect allow-list, as an operator writes it.
struct ConnectorsHarness {
    static let returnURL = "https://app.example.test/connectors/done"
    let daemon: DaemonHarness
    let oauth: FakeOAuthProvider
    let apiKeys: FakeAPIKeyProvider
    /// A Stripe-shaped key the fake accepts.
    let goodKey: String
    let jwtSecret: String
    /// Every request the daemon's provider client sent, with the host its URL was rendered for.
    let requests: ProviderRequests

    /// `catalogProviders`: built-in catalog providers (`shopify`, `salesforce`…) configured as an operator would,
    /// with a client and `base_url` moved to the given fake: the path production takes, rendering included.
    static func with(
        oauthConfiguration: FakeOAuthProvider.Configuration = .init(), catalogProviders: [String: FakeOAuthProvider] = [:],
        requireConfirmation: Bool = false, time: any TimeSource = SystemTime(), _ body: (ConnectorsHarness) async throws -> Void
    ) async throws {
        let oauth = try await FakeOAuthProvider.start(oauthConfiguration)
        let goodKey = try DaemonHarness.sampleKey()
        let apiKeys = try await FakeAPIKeyProvider.start(acceptedKeys: [goodKey], accountName: "Acme Payments")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("resolverd-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let secretFile = directory.appendingPathComponent("client-secret").path
        try writeSecretFile(oauth.configuration.clientSecret, to: secretFile)
        let jwtSecret = try DaemonHarness.secret(bytes: 32)
        let jwtFile = directory.appendingPathComponent("jwt-secret").path
        try writeSecretFile(jwtSecret, to: jwtFile)
        var catalogEntries = ""
        for (slug, fake) in catalogProviders.sorted(by: { $0.key < $1.key }) {
            let file = directory.appendingPathComponent("\(slug)-secret").path
            try writeSecretFile(fake.configuration.clientSecret, to: file)
            catalogEntries +=
                #", "\#(slug)": {"client_id": "\#(fake.configuration.clientID)", "client_secret_file": "\#(file)", "base_url": "\#(fake.baseURL)"}"#
        }
        let config = """
            {
              "public_url": "https://resolverd.example.test",
              "redirect_allowlist": ["\(returnURL)"],
              "session_jwt": {"algorithm": "HS256", "secret_file": "\(jwtFile)", "issuer": "webapp"},
              "provider_timeout_seconds": 2,
              "oauth": {"require_confirmation": \(requireConfirmation)},
              "providers": {
                "stripe": {"base_url": "\(apiKeys.baseURL)"},
                "fake_oauth": {"client_id": "\(oauth.configuration.clientID)", "client_secret_file": "\(secretFile)"}\(catalogEntries)
              },
              "custom_providers": [\(oauth.catalogEntry(
                  roles: ["source", "primary_data_source"], scopes: ["openid", "email"], revocation: true, accountNamePath: "email"))]
            }
            """
        let configFile = directory.appendingPathComponent("resolverd.json").path
        try Data(config.utf8).write(to: URL(fileURLWithPath: configFile))
        let settings = try ConnectorsSettings(file: try ConfigFile.load(path: configFile), listen: ListenAddress(host: "127.0.0.1", port: 0))
        do {
            let requests = ProviderRequests()
            try await DaemonHarness.with(connectors: settings, providerRequestLog: { requests.append($0) }, time: time) { daemon in
                try await body(
                    ConnectorsHarness(daemon: daemon, oauth: oauth, apiKeys: apiKeys, goodKey: goodKey, jwtSecret: jwtSecret, requests: requests))
            }
        } catch {
            await oauth.shutdown()
            await apiKeys.shutdown()
            throw error
        }
        await oauth.shutdown()
        await apiKeys.shutdown()
    }

    /// A user API key made the way `resolverd apikey create` makes it.
    func apiKey(for user: String, workspace: String? = nil) async throws -> String {
        let secret = try await daemon.runtime.connectors.apiKeys.create(userID: user, workspaceID: workspace, name: "test").secret
        TestSecrets.shared.given(secret)
        return secret
    }

    /// A session JWT signed with the configured secret.
    func session(for user: String, expiresIn: TimeInterval = 300, algorithm: String = "HS256", secret: String? = nil) throws -> String {
        let header = Base64URL.encode(Array(#"{"alg":"\#(algorithm)","typ":"JWT"}"#.utf8))
        let exp = Int(Date().timeIntervalSince1970 + expiresIn)
        let payload = Base64URL.encode(Array(#"{"sub":"\#(user)","iss":"webapp","exp":\#(exp),"workspace":"w1"}"#.utf8))
        let input = "\(header).\(payload)"
        if algorithm == "none" { return input + "." }
        let signature = HMACSHA256.authenticationCode(for: Array(input.utf8), key: Array((secret ?? jwtSecret).utf8))
        return "\(input).\(Base64URL.encode(signature))"
    }

    /// Follows the authorize URL at the fake as a browser would, up to the redirect back: the callback's query.
    func approve(_ authURL: String) async throws -> [String: String] {
        var request = HTTPClientRequest(url: authURL)
        request.method = .GET
        let response = try await Self.browser.execute(request, timeout: .seconds(10))
        let location = try requireLocation(response.headers.first(name: "Location"))
        return Self.query(of: location)
    }

    static func query(of url: String) -> [String: String] {
        var result: [String: String] = [:]
        for item in URLComponents(string: url)?.queryItems ?? [] { result[item.name] = item.value ?? "" }
        return result
    }

    /// A client that does not follow redirects, to read where the fake sends the browser.
    static let browser = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
}

private func requireLocation(_ value: String?) throws -> String {
    guard let value else { throw HarnessError("the authorization server did not redirect") }
    return value
}

/// The provider client's request log, as a test reads it.
final class ProviderRequests: Sendable {
    private let records = Mutex<[ProviderRequestRecord]>([])
    func append(_ record: ProviderRequestRecord) { records.withLock { $0.append(record) } }
    var all: [ProviderRequestRecord] { records.withLock { $0 } }
    func of(_ provider: String, _ call: ProviderCall) -> [ProviderRequestRecord] { all.filter { $0.provider == provider && $0.call == call } }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension DaemonClient {
    /// A request to the connectors API with a bearer credential.
    func api(_ method: HTTPRequest.Method, _ uri: String, bearer: String?, json: String? = nil, headers extra: HTTPFields = [:]) async throws
        -> HTTPAnswer
    {
        var headers = extra
        if let bearer { headers[.authorization] = "Bearer \(bearer)" }
        if json != nil { headers[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }
}

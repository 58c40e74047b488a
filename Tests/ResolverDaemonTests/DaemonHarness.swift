import Connectors
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOFoundationEssentialsCompat
import PGClient
import PGTestSupport
import ProviderFakes
import ResolverCrypto
import Synchronization
import Testing
@testable import ResolverDaemon

/// Collects every log line the daemon writes in a test, so tests can prove no secret reaches the logs.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    func logger(label: String = "resolverd.test") -> Logger {
        Logger(label: label) { label in CapturingHandler(label: label, capture: self) }
    }

    fileprivate func append(_ line: String, label: String) {
        TestSecrets.shared.logged(line, source: label)
        lines.withLock { $0.append(line) }
    }

    private struct CapturingHandler: LogHandler {
        let label: String
        let capture: LogCapture
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            capture.append("\(event.level) \(event.message) \(event.metadata ?? [:]) \(metadata) \(String(describing: event.error))", label: label)
        }
    }
}

extension TestSecrets {
    /// Fails the running test for each secret found in a daemon's log since the last check. Every harness checks
    /// when its daemon is done; the check covers whatever any daemon of the run logged until then.
    func expectNoLeaks(sourceLocation: SourceLocation = #_sourceLocation) {
        for leak in takeLeaks() { Issue.record(Comment(rawValue: leak), sourceLocation: sourceLocation) }
    }
}

/// A daemon runtime on a fresh migrated schema, with generated services tokens: `gateway` may resolve every
/// provider, `limited` only stripe.
struct DaemonHarness {
    let runtime: ResolverRuntime
    let pool: PGConnectionPool
    let gatewayToken: String
    let limitedToken: String
    let logs: LogCapture

    static func with(
        connectors: ConnectorsSettings? = nil, providerRequestLog: (@Sendable (ProviderRequestRecord) -> Void)? = nil,
        _ body: (DaemonHarness) async throws -> Void
    ) async throws {
        try await TestDatabase.withSchema { pool, _ in
            try await ConnectorsSchema.migrator().migrate(on: pool)
            let gateway = try servicesToken()
            let limited = try servicesToken()
            let tokens = try ServicesTokens(
                parsing: "# test tokens\ngateway \(gateway)\nlimited sha256:\(SHA256.hexDigest(Array(limited.utf8))) stripe,posthog\n",
                source: "test")
            let logs = LogCapture()
            let keyring = try Keyring(keys: ["k1": SymmetricKey(size: .bits256)])
            let runtime = ResolverRuntime(
                pool: pool, keyring: keyring, tokens: ServicesTokenBox(tokens, path: nil), logger: logs.logger(), connectorsSettings: connectors,
                providerRequestLog: providerRequestLog)
            try await body(DaemonHarness(runtime: runtime, pool: pool, gatewayToken: gateway, limitedToken: limited, logs: logs))
            TestSecrets.shared.expectNoLeaks()
        }
    }

    /// A sample API key made here.
    static func sampleKey(_ prefix: String = "sk_test_") throws -> String { try secret(prefix, bytes: 16) }

    /// A services token made here.
    static func servicesToken() throws -> String { try secret("svc_", bytes: 20) }

    /// `prefix` and random hex, remembered as a secret that no daemon log may contain.
    static func secret(_ prefix: String = "", bytes: Int) throws -> String {
        let secret = prefix + Hex.encode(try SecureRandom.bytes(count: bytes))
        TestSecrets.shared.given(secret)
        return secret
    }

    /// Runs `body` with a client of the API router.
    func withAPI(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = Application(router: buildAPIRouter(runtime: runtime), logger: logs.logger(label: "resolverd.http"))
        try await app.test(.router) { client in try await body(client) }
    }

    func withAdmin(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = Application(router: buildAdminRouter(runtime: runtime))
        try await app.test(.router) { client in try await body(client) }
    }
}

extension TestClientProtocol {
    /// POSTs `json` to the resolver with `token` (none when nil).
    func resolve(_ json: String, token: String?, path: String = "/internal/v1/resolve") async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let token { headers[ResolveRoutes.tokenField] = token }
        return try await execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: json))
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
    /// The body as a JSON object.
    var object: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:] }
    /// `error.code` of an error body.
    var errorCode: String? { (object["error"] as? [String: Any])?["code"] as? String }
}

import Connectors
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PGClient
import PGTestSupport
import ResolverCrypto
import Synchronization
@testable import ResolverDaemon

/// Collects every log line the daemon writes in a test, so tests can prove no secret reaches the logs.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    func logger(label: String = "resolverd.test") -> Logger {
        Logger(label: label) { label in CapturingHandler(label: label, capture: self) }
    }

    fileprivate func append(_ line: String) { lines.withLock { $0.append(line) } }

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
            capture.append("\(event.level) \(event.message) \(event.metadata ?? [:]) \(metadata) \(String(describing: event.error))")
        }
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

    static func with(connectors: ConnectorsSettings? = nil, _ body: (DaemonHarness) async throws -> Void) async throws {
        try await TestDatabase.withSchema { pool, _ in
            try await ConnectorsSchema.migrator().migrate(on: pool)
            let gateway = "svc_" + Hex.encode(try SecureRandom.bytes(count: 20))
            let limited = "svc_" + Hex.encode(try SecureRandom.bytes(count: 20))
            let tokens = try ServicesTokens(
                parsing: "# test tokens\ngateway \(gateway)\nlimited sha256:\(SHA256.hexDigest(Array(limited.utf8))) stripe,posthog\n",
                source: "test")
            let logs = LogCapture()
            let keyring = try Keyring(keys: ["k1": SymmetricKey(size: .bits256)])
            let runtime = ResolverRuntime(
                pool: pool, keyring: keyring, tokens: ServicesTokenBox(tokens, path: nil), logger: logs.logger(), connectorsSettings: connectors)
            try await body(DaemonHarness(runtime: runtime, pool: pool, gatewayToken: gateway, limitedToken: limited, logs: logs))
        }
    }

    /// A sample API key made here.
    static func sampleKey(_ prefix: String = "sk_test_") throws -> String { prefix + Hex.encode(try SecureRandom.bytes(count: 16)) }

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

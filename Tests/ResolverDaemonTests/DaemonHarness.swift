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
import ServiceLifecycle
import Synchronization
import Testing
import Timekeeping
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
        time: any TimeSource = SystemTime(), _ body: (DaemonHarness) async throws -> Void
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
                providerRequestLog: providerRequestLog, time: time)
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

    /// Runs the daemon (see ``ResolverRuntime/withDaemon(_:_:)``) while `body` runs with clients of both listeners.
    func withDaemon(
        _ configure: (inout DaemonOptions) -> Void = { _ in }, _ body: (_ api: DaemonClient, _ admin: DaemonClient) async throws -> Void
    ) async throws {
        try await runtime.withDaemon(configure, body)
    }

    /// Runs `body` with a client of the running daemon's API listener.
    func withAPI(_ body: (DaemonClient) async throws -> Void) async throws {
        try await withDaemon { api, _ in try await body(api) }
    }

    /// Runs `body` with a client of the running daemon's admin listener.
    func withAdmin(_ body: (DaemonClient) async throws -> Void) async throws {
        try await withDaemon { _, admin in try await body(admin) }
    }
}

extension ResolverRuntime {
    /// Runs this runtime's daemon as `serve` builds it (``buildDaemon(runtime:options:)``), both listeners on
    /// ports of their choosing, while `body` runs with clients of each; then shuts it down gracefully. The pool
    /// is the caller's: it outlives the daemon (the test's schema, a private cluster).
    func withDaemon<Value>(
        _ configure: (inout DaemonOptions) -> Void = { _ in }, _ body: (_ api: DaemonClient, _ admin: DaemonClient) async throws -> Value
    ) async throws -> Value {
        var options = DaemonOptions(listen: ListenAddress(host: "127.0.0.1", port: 0), adminListen: ListenAddress(host: "127.0.0.1", port: 0))
        options.runsPool = false
        configure(&options)
        let daemon = buildDaemon(runtime: self, options: options)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { daemon.ports.close() }
                try await daemon.group.run()
            }
            guard let ports = await daemon.ports.bound() else {
                try await group.waitForAll()
                throw DaemonClient.Failure.notListening
            }
            let api = DaemonClient(port: ports.api)
            let admin = DaemonClient(port: ports.admin)
            let result: Result<Value, any Error>
            do {
                result = .success(try await body(api, admin))
            } catch {
                result = .failure(error)
            }
            try? await api.shutdown()
            try? await admin.shutdown()
            await daemon.group.triggerGracefulShutdown()
            try await group.waitForAll()
            return try result.get()
        }
    }
}

/// An HTTP/1.1 client of one of a running daemon's listeners, on one keep-alive connection made by the first
/// request (a test that counts the listener's connections makes its own).
final class DaemonClient: Sendable {
    enum Failure: Error { case notListening }

    let port: Int
    private let client: TestClient
    private let connected = Mutex(false)

    init(port: Int) {
        self.port = port
        client = TestClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(30)))
    }

    func execute(uri: String, method: HTTPRequest.Method, headers: HTTPFields = [:], body: ByteBuffer? = nil) async throws -> HTTPAnswer {
        let connect = connected.withLock { connected in
            defer { connected = true }
            return !connected
        }
        if connect { client.connect() }
        let response = try await client.execute(TestClient.Request(uri, method: method, authority: "127.0.0.1", headers: headers, body: body))
        return HTTPAnswer(head: response.head, body: response.body ?? ByteBuffer())
    }

    func shutdown() async throws { try await client.shutdown() }
}

/// One answer a ``DaemonClient`` received.
struct HTTPAnswer: Sendable {
    let head: HTTPResponse
    let body: ByteBuffer
    var status: HTTPResponse.Status { head.status }
    var headers: HTTPFields { head.headerFields }
}

extension DaemonClient {
    /// POSTs `json` to the resolver with `token` (none when nil).
    func resolve(_ json: String, token: String?, path: String = "/internal/v1/resolve") async throws -> HTTPAnswer {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let token { headers[ServicesTokenHeader.name] = token }
        return try await execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: json))
    }
}

extension HTTPAnswer {
    var text: String { String(buffer: body) }
    /// The body as a JSON object.
    var object: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:] }
    /// `error.code` of an error body.
    var errorCode: String? { (object["error"] as? [String: Any])?["code"] as? String }
}

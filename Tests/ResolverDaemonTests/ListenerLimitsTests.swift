import Foundation
import Glibc
import Logging
import PGTestSupport
import ServiceLifecycle
import Testing
@testable import ResolverDaemon

/// The listener limits as read from the environment: defaults, and a bad value names its variable.
@Suite struct ListenerLimitsSettingsTests {
    let base = ["DATABASE_URL": "postgres://resolverd@localhost/resolverd", "RESOLVERD_KEYS_DIR": "/etc/resolverd/keys"]

    @Test func theLimitsHaveDefaults() throws {
        let limits = try DaemonSettings(environment: base).listenerLimits
        #expect(limits == ListenerLimits())
        #expect(limits.idleTimeout == .seconds(60) && limits.requestReadTimeout == .seconds(10) && limits.maxConnections == 10_000)
    }

    @Test func theLimitsComeFromTheEnvironment() throws {
        var environment = base
        environment["RESOLVERD_IDLE_TIMEOUT_SECONDS"] = "3600"
        environment["RESOLVERD_REQUEST_READ_TIMEOUT_SECONDS"] = "1"
        environment["RESOLVERD_MAX_CONNECTIONS"] = "1000000"
        let limits = try DaemonSettings(environment: environment).listenerLimits
        #expect(limits == ListenerLimits(idleTimeout: .seconds(3600), requestReadTimeout: .seconds(1), maxConnections: 1_000_000))
    }

    @Test(arguments: [
        ("RESOLVERD_IDLE_TIMEOUT_SECONDS", "0"), ("RESOLVERD_IDLE_TIMEOUT_SECONDS", "3601"), ("RESOLVERD_IDLE_TIMEOUT_SECONDS", "1.5"),
        ("RESOLVERD_REQUEST_READ_TIMEOUT_SECONDS", "0"), ("RESOLVERD_REQUEST_READ_TIMEOUT_SECONDS", "601"),
        ("RESOLVERD_REQUEST_READ_TIMEOUT_SECONDS", "ten"), ("RESOLVERD_MAX_CONNECTIONS", "0"), ("RESOLVERD_MAX_CONNECTIONS", "1000001"),
        ("RESOLVERD_MAX_CONNECTIONS", "-5"),
    ])
    func aBadValueNamesItsVariable(name: String, bad: String) throws {
        var environment = base
        environment[name] = bad
        let error = #expect(throws: SettingsError.self) { try DaemonSettings(environment: environment) }
        #expect(error?.setting == name)
        #expect(error.map { "\($0)" }?.contains("'\(bad)'") == true)
    }
}

/// Both listeners as `resolverd serve` builds them, on real sockets, with small limits: a request that does not
/// arrive in time (held by the fast path or not) and an idle connection are closed, a steady client is not, and
/// past the connection limit a new connection is closed at once.
@Suite(.enabled(if: TestDatabase.isConfigured)) struct ListenerLimitsTests {
    static let short = ListenerLimits(idleTimeout: .seconds(1), requestReadTimeout: .seconds(1), maxConnections: 100)

    @Test func aHalfSentResolveHeldByTheFastPathIsAnswered408AndClosed() async throws {
        try await DaemonHarness.with { daemon in
            try await withListeners(daemon, limits: Self.short) { api, _ in
                let head =
                    "POST /internal/v1/resolve HTTP/1.1\r\nHost: localhost\r\nX-Reeve-Services-Token: \(daemon.gatewayToken)\r\n"
                    + "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                let outcome = try await onThread {
                    let client = try Client(port: api)
                    defer { client.close() }
                    try client.send(head + #"{"provider""#)
                    return client.waitForClose(within: .seconds(5))
                }
                #expect(outcome.closed)
                #expect(outcome.after >= .milliseconds(900), "closed after \(outcome.after)")
                #expect(outcome.text.hasPrefix("HTTP/1.1 408 Request Timeout\r\n") && outcome.text.contains(#""code":"request_timeout""#))
                #expect(daemon.closedConnections("api", .readTimeout) == 1)
                #expect(daemon.closedConnections("api", .idle) == 0)
            }
        }
    }

    /// A head sent a line at a time, never ending: the bytes keep coming, the request never does.
    @Test(arguments: ["api", "admin"]) func aHeadThatNeverEndsIsClosed(listener: String) async throws {
        try await DaemonHarness.with { daemon in
            try await withListeners(daemon, limits: Self.short) { api, admin in
                let outcome = try await onThread {
                    let client = try Client(port: listener == "api" ? api : admin)
                    defer { client.close() }
                    try client.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
                    return client.dribbleUntilClosed("X-Pad: 1\r\n", every: .milliseconds(200), within: .seconds(5))
                }
                #expect(outcome.closed)
                // The 408 may be lost: a line sent as the server closes makes the close a reset.
                #expect(outcome.text.isEmpty || outcome.text.hasPrefix("HTTP/1.1 408 "), "\(outcome.text)")
                #expect(daemon.closedConnections(listener, .readTimeout) == 1)
            }
        }
    }

    @Test func anIdleConnectionIsClosedAndASteadyOneIsNot() async throws {
        try await DaemonHarness.with { daemon in
            try await withListeners(daemon, limits: Self.short) { api, _ in
                let token = daemon.gatewayToken
                async let idle = onThread {
                    let client = try Client(port: api)
                    defer { client.close() }
                    try client.send("GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    let status = try client.readResponse(within: .seconds(5))
                    return (status, client.waitForClose(within: .seconds(5)))
                }
                async let steady = onThread {
                    let client = try Client(port: api)
                    defer { client.close() }
                    let resolve = #"{"provider":"stripe","user_id":"nobody"}"#
                    let requests = [
                        "GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n",
                        "POST /internal/v1/resolve HTTP/1.1\r\nHost: localhost\r\nX-Reeve-Services-Token: \(token)\r\n"
                            + "Content-Type: application/json\r\nContent-Length: \(resolve.utf8.count)\r\n\r\n\(resolve)",
                    ]
                    // Three idle periods and more, a request every 200 ms.
                    var statuses: [Int] = []
                    let end = ContinuousClock.now + .milliseconds(3500)
                    while ContinuousClock.now < end {
                        try client.send(requests[statuses.count % 2])
                        statuses.append(try client.readResponse(within: .seconds(5)))
                        Thread.sleep(forTimeInterval: 0.2)
                    }
                    return statuses
                }
                let (status, closing) = try await idle
                #expect(status == 404)
                #expect(closing.closed && closing.bytes.isEmpty)
                #expect(closing.after >= .milliseconds(900), "closed after \(closing.after)")
                let statuses = try await steady
                #expect(statuses.count >= 10)
                #expect(statuses.allSatisfy { (400..<500).contains($0) && $0 != 408 }, "\(statuses)")
                #expect(daemon.closedConnections("api", .idle) == 1)
                #expect(daemon.closedConnections("api", .readTimeout) == 0)
            }
        }
    }

    @Test func pastTheLimitANewConnectionIsClosedAtOnceUntilOneCloses() async throws {
        let limits = ListenerLimits(idleTimeout: .seconds(60), requestReadTimeout: .seconds(60), maxConnections: 3)
        try await DaemonHarness.with { daemon in
            try await withListeners(daemon, limits: limits) { api, _ in
                let request = "GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n"
                let held = try await onThread { try (0..<3).map { _ in try Client.served(port: api, request: request) } }
                defer { held.dropFirst().forEach { $0.client.close() } }
                #expect(held.map(\.status) == [404, 404, 404])
                // The probe that found the listener up may have been counted a moment longer, and one of these refused.
                let refusedBefore = daemon.closedConnections("api", .overLimit)
                let refused = try await onThread {
                    let client = try Client(port: api)
                    defer { client.close() }
                    return client.waitForClose(within: .seconds(5))
                }
                #expect(refused.closed && refused.bytes.isEmpty)
                #expect(refused.after < .seconds(2), "closed after \(refused.after)")
                #expect(daemon.closedConnections("api", .overLimit) == refusedBefore + 1)

                held[0].client.close()
                let served = try await onThread {
                    let served = try Client.served(port: api, request: request)
                    served.client.close()
                    return served.status
                }
                #expect(served == 404)
                #expect(daemon.closedConnections("api", .idle) == 0 && daemon.closedConnections("api", .readTimeout) == 0)
            }
        }
    }
}

extension DaemonHarness {
    /// `resolverd_connections_closed_total` for `listener` and `reason`.
    func closedConnections(_ listener: String, _ reason: ConnectionClosing) -> Int {
        let metrics = String(decoding: runtime.metrics.render(), as: UTF8.self)
        let prefix = #"resolverd_connections_closed_total{listener="\#(listener)",reason="\#(reason.rawValue)"} "#
        let line = metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }
        return line.flatMap { Int($0.dropFirst(prefix.count)) } ?? -1
    }
}

/// Runs the daemon as `serve` builds it, its listeners held to `limits`, while `body` runs with their ports.
private func withListeners(_ daemon: DaemonHarness, limits: ListenerLimits, _ body: (_ api: Int, _ admin: Int) async throws -> Void) async throws {
    try await daemon.runtime.withDaemon({ $0.limits = limits }) { api, admin in try await body(api.port, admin.port) }
}

/// Runs blocking socket work on a thread of its own, never on the tasks' pool, which the server needs.
private func onThread<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// What a client saw until the server closed its connection, or until it gave up waiting.
private struct Closing: Sendable {
    var bytes: [UInt8]
    var closed: Bool
    /// From the start of the wait.
    var after: Duration
    var text: String { String(decoding: bytes, as: UTF8.self) }
}

/// A blocking client socket connected to 127.0.0.1.
private struct Client: Sendable {
    struct Failure: Error { var step: String }

    let fd: Int32

    init(port: Int) throws {
        guard let fd = loopbackSocket(port: port) else { throw Failure(step: "connect") }
        self.fd = fd
    }

    func close() { Glibc.close(fd) }

    /// A new connection that `request` was answered on, and the answer's status. A connection closed unanswered (the
    /// listener still counting one that closed a moment ago) is tried again, for up to 5 s.
    static func served(port: Int, request: String) throws -> (client: Client, status: Int) {
        let end = ContinuousClock.now + .seconds(5)
        while true {
            let client = try Client(port: port)
            do {
                return (client, try client.readResponse(after: request, within: .seconds(5)))
            } catch let error as Failure where ["closed", "send"].contains(error.step) && ContinuousClock.now < end {
                client.close()
                Thread.sleep(forTimeInterval: 0.05)
            } catch {
                client.close()
                throw error
            }
        }
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard Glibc.send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { throw Failure(step: "send") }
    }

    /// Waits up to `timeout` for readable data; nil on timeout, else what `recv` got (empty: the server closed).
    private func receive(within timeout: Duration) -> [UInt8]? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(max(0, timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
        guard poll(&poller, 1, milliseconds) > 0 else { return nil }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = recv(fd, &chunk, chunk.count, 0)
        return count > 0 ? Array(chunk[..<count]) : []  // a reset counts as closed
    }

    func waitForClose(within timeout: Duration) -> Closing {
        let start = ContinuousClock.now
        var bytes: [UInt8] = []
        while case let left = timeout - (ContinuousClock.now - start), left > .zero, let chunk = receive(within: left) {
            if chunk.isEmpty { return Closing(bytes: bytes, closed: true, after: ContinuousClock.now - start) }
            bytes += chunk
        }
        return Closing(bytes: bytes, closed: false, after: ContinuousClock.now - start)
    }

    /// Sends `piece` every `interval` until the server closes the connection or `timeout` passes.
    func dribbleUntilClosed(_ piece: String, every interval: Duration, within timeout: Duration) -> Closing {
        let start = ContinuousClock.now
        var bytes: [UInt8] = []
        while ContinuousClock.now - start < timeout {
            let sent = (try? send(piece)) != nil
            let wait = waitForClose(within: sent ? interval : timeout - (ContinuousClock.now - start))
            bytes += wait.bytes
            if wait.closed || !sent { return Closing(bytes: bytes, closed: wait.closed || !sent, after: ContinuousClock.now - start) }
        }
        return Closing(bytes: bytes, closed: false, after: ContinuousClock.now - start)
    }

    /// Sends `request` (when given), reads one whole response (its body by Content-Length) and returns its status.
    func readResponse(after request: String? = nil, within timeout: Duration) throws -> Int {
        if let request { try send(request) }
        let start = ContinuousClock.now
        var bytes: [UInt8] = []
        let separator = Array("\r\n\r\n".utf8)
        while case let left = timeout - (ContinuousClock.now - start), left > .zero {
            if let end = bytes.firstRange(of: separator) {
                let head = String(decoding: bytes[..<end.lowerBound], as: UTF8.self).lowercased()
                let length =
                    head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                if bytes.count - end.upperBound >= length {
                    guard let status = Int(head.split(separator: " ").dropFirst().first ?? "") else { throw Failure(step: "status") }
                    return status
                }
            }
            guard let chunk = receive(within: left) else { break }
            guard !chunk.isEmpty else { throw Failure(step: "closed") }
            bytes += chunk
        }
        throw Failure(step: "timeout")
    }
}

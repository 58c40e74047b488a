import Connectors
import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import PGClient
import PGTestSupport
import ServiceLifecycle
import Testing
@testable import ResolverDaemon

/// The API listener as `resolverd serve` runs it, on a real socket: plain resolves are answered by
/// ``ResolveFastPath`` (hits on the event loop, misses through a database read of its own), everything else by
/// the router, in the order the requests came.
@Suite(.enabled(if: TestDatabase.isConfigured)) struct ResolveFastPathTests {
    @Test func aHitIsAnsweredBeforeTheRouterJustAsTheRouterAnswers() async throws {
        try await DaemonHarness.with { daemon in
            let user = uniqueUser()
            let key = try DaemonHarness.sampleKey()
            let record = try await daemon.runtime.store.put(
                userID: user, provider: "stripe", credential: Credential(type: .apiKey, accessToken: key))
            let gateway = daemon.gatewayToken
            let misses = try await daemon.withLiveAPI { client, _ in
                let body = #"{"provider": "stripe", "user_id": "\#(user)"}"#
                let first = try await client.resolve(body, token: gateway)  // a miss, read from the database
                let misses = try await daemon.warm(client, body, token: gateway) + 1
                #expect(daemon.eventLoopAnswers == 0)
                #expect(daemon.fastPathReads == misses)
                let second = try await client.resolve(body, token: gateway)  // a hit: answered on the event loop
                #expect(daemon.eventLoopAnswers == 1)
                #expect(first.status == .ok && second.status == .ok)
                let sameText = second.text == first.text  // compared, not printed: the text holds a token
                #expect(sameText)
                #expect(second.object["access_token"] as? String == key)
                for name in [HTTPField.Name.contentType, .contentLength, .server] {
                    #expect(second.headers[name] != nil && second.headers[name] == first.headers[name], "\(name)")
                }
                let date = try #require(second.headers[.date])
                #expect(date.wholeMatch(of: /[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT/) != nil, "\(date)")
                return misses
            }
            let metrics = String(decoding: daemon.runtime.metrics.render(), as: UTF8.self)
            for line in [
                #"resolverd_resolves_total{outcome="ok"} \#(misses + 1)"#, #"resolverd_resolve_cache_total{result="hit"} 1"#,
                #"resolverd_resolve_cache_total{result="miss"} \#(misses)"#, "resolverd_resolve_event_loop_answers_total 1",
            ] {
                #expect(metrics.contains(line), "\(line)")
            }
            await daemon.runtime.audit.flush()
            let rows = try await daemon.pool.query("SELECT actor, outcome, connector_id FROM audit_events")
            #expect(rows.count == misses + 1)
            for row in rows {
                let (actor, outcome, connectorID) = try row.decode((String, String, String?).self)
                #expect(actor == "gateway" && outcome == "ok" && connectorID == record.id)
            }
        }
    }

    /// With the answer cached, every request that is not a plain, allowed resolve still gets the router's answer;
    /// a plain one the cache cannot answer is read by the fast path.
    @Test func everythingButAPlainAllowedResolveGoesToTheRouter() async throws {
        try await DaemonHarness.with { daemon in
            let user = uniqueUser()
            try await daemon.runtime.store.put(userID: user, provider: "gmail", credential: Credential(type: .oauth, accessToken: "at"))
            let (gateway, limited) = (daemon.gatewayToken, daemon.limitedToken)
            try await daemon.withLiveAPI { client, _ in
                let body = #"{"provider": "gmail", "user_id": "\#(user)"}"#
                #expect(try await client.resolve(body, token: gateway).status == .ok)
                _ = try await daemon.warm(client, body, token: gateway)
                let reads = daemon.fastPathReads
                #expect(try await client.resolve(body, token: nil).errorCode == "unauthorized")
                #expect(try await client.resolve(body, token: gateway + "x").errorCode == "unauthorized")
                #expect(try await client.resolve(body, token: limited).errorCode == "forbidden")
                #expect(
                    try await client.resolve(#"{"provider": "gmail", "user_id": "\#(user)", "min_valid_seconds": -1}"#, token: gateway).errorCode
                        == "invalid_request")
                #expect(try await client.resolve(#"{"provider": "gmail", "user_id": "\#(user)""#, token: gateway).errorCode == "invalid_request")
                #expect(daemon.fastPathReads == reads)
                #expect(try await client.resolve(#"{"provider": "gmail", "user_id": "\#(user)_2"}"#, token: gateway).errorCode == "not_connected")
                #expect(daemon.fastPathReads == reads + 1)
                // The same answer, in a shape the plain reader leaves to JSONDecoder, and padded past the limit.
                let escaped = #"{"provider": "gm\u0061il", "user_id": "\#(user)"}"#
                #expect(try await client.resolve(escaped, token: gateway).status == .ok)
                let padded = String(repeating: " ", count: ResolveFastPath.bodyLimit) + body
                #expect(try await client.resolve(padded, token: gateway).status == .ok)
                let huge = try await client.resolve(String(repeating: " ", count: 1 << 20) + body, token: gateway)
                #expect(huge.status == .contentTooLarge)
                #expect(try await client.execute(uri: "/internal/v1/resolve", method: .get).status == .methodNotAllowed)
                #expect(daemon.eventLoopAnswers == 0 && daemon.fastPathReads == reads + 1)
                #expect(try await client.resolve(body, token: gateway).status == .ok)
                #expect(daemon.eventLoopAnswers == 1)
            }
        }
    }

    /// Answers leave in the order the requests came, even when the first is a database read and the next could
    /// be answered at once: they wait for it. `Connection: close` is honoured after the answer.
    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await DaemonHarness.with { daemon in
            let user = try await daemon.connectedUser()
            let gateway = daemon.gatewayToken
            try await daemon.withLiveAPI { client, port in
                #expect(try await client.resolve(#"{"provider":"stripe","user_id":"\#(user)"}"#, token: gateway).status == .ok)
                func request(_ user: String, close: Bool = false) -> String {
                    let request = RawHTTP.resolve(user: user, token: gateway, close: close)
                    return request.head + request.body
                }
                let answers = try await RawHTTP.exchange(
                    port: port, sends: [request(user + "_404") + request(user) + request(user) + request(user, close: true)])
                #expect(answers.responses.map(\.status) == [404, 200, 200, 200])
                #expect(answers.responses.first?.body.contains("not_connected") == true)
                #expect(answers.closed)
                // The 404 is read from the database, the middle two are answered from the cache or read; the last
                // asks to close, so the router answers it.
                #expect(daemon.eventLoopAnswers <= 2)
                #expect(daemon.fastPathReads >= 1)
            }
        }
    }

    /// A request whose body arrives in pieces, some time after its head, is held until its end and answered.
    @Test func aBodyInPiecesIsHeldUntilItsEnd() async throws {
        try await DaemonHarness.with { daemon in
            let user = try await daemon.connectedUser()
            let gateway = daemon.gatewayToken
            try await daemon.withLiveAPI { client, port in
                let body = #"{"provider":"stripe","user_id":"\#(user)"}"#
                #expect(try await client.resolve(body, token: gateway).status == .ok)
                _ = try await daemon.warm(client, body, token: gateway)
                let head = RawHTTP.resolve(user: user, token: gateway, close: false).head
                let split = body.index(body.startIndex, offsetBy: 10)
                let answers = try await RawHTTP.exchange(port: port, sends: [head, String(body[..<split]), String(body[split...])])
                #expect(answers.responses.map(\.status) == [200])
                #expect(daemon.eventLoopAnswers == 1)
            }
        }
    }

    /// Graceful shutdown closes idle connections; a request held here is not idle: the router gets it and
    /// answers it once the rest arrives, and only then is the connection closed.
    @Test func aHeldRequestIsAnsweredWhenShutdownBegins() async throws {
        try await DaemonHarness.with { daemon in
            let user = try await daemon.connectedUser()
            let (port, group, running) = try await daemon.startDaemon()
            func request(close: Bool) -> (head: String, body: String) {
                RawHTTP.resolve(user: user, token: daemon.gatewayToken, close: close)
            }
            // Until the listener serves and the answer is cached (asking to close, so the router answers).
            let deadline = ContinuousClock.now + .seconds(10)
            while daemon.runtime.cache.count == 0 && ContinuousClock.now < deadline {
                let warm = request(close: true)
                _ = try? await RawHTTP.exchange(port: port, sends: [warm.head + warm.body])
                try await Task.sleep(for: .milliseconds(20))
            }
            try #require(daemon.runtime.cache.count == 1)

            let held = request(close: false)
            let split = held.body.index(held.body.startIndex, offsetBy: 10)
            async let answers = RawHTTP.exchange(
                port: port, sends: [held.head + held.body[..<split], String(held.body[split...])], pause: .seconds(1))
            try await Task.sleep(for: .milliseconds(300))
            await group.triggerGracefulShutdown()
            let exchange = try await answers
            let (statuses, closed) = (exchange.responses.map(\.status), exchange.closed)  // not the bodies, which hold tokens
            #expect(statuses == [200])
            #expect(closed)
            try await running.value
            #expect(daemon.eventLoopAnswers == 0)
        }
    }

    /// The fast path's answers, from the cache or read, are the router's: status line, headers, body. The router
    /// answers a request asking to close the connection, so each answer is asked for both ways.
    @Test func fastPathAnswersAreTheRoutersAnswers() async throws {
        try await DaemonHarness.with { daemon in
            let user = try await daemon.connectedUser()
            let disabled = uniqueUser()
            let record = try await daemon.runtime.store.put(
                userID: disabled, provider: "stripe", credential: Credential(type: .apiKey, accessToken: try DaemonHarness.sampleKey()))
            _ = try await daemon.pool.query("UPDATE connector_tokens SET status = 'disabled' WHERE id = \(record.id)")
            let gateway = daemon.gatewayToken
            try await daemon.withLiveAPI { _, port in
                for who in [user, user + "_404", disabled] {
                    func ask(close: Bool) async throws -> RawHTTP.Response {
                        let request = RawHTTP.resolve(user: who, token: gateway, close: close)
                        return try #require(try await RawHTTP.exchange(port: port, sends: [request.head + request.body]).responses.first)
                    }
                    let reads = daemon.fastPathReads
                    let fast = try await ask(close: false)
                    #expect(daemon.fastPathReads == reads + 1 || daemon.eventLoopAnswers > 0)
                    let routed = try await ask(close: true)
                    // Compared, not printed: a body holds a token.
                    let sameBody = fast.body == routed.body
                    #expect(fast.statusLine == routed.statusLine && sameBody, "\(fast.statusLine) \(routed.statusLine)")
                    // Every header the router sends, with the same value, but for the close and the clock's second.
                    let compared = { (response: RawHTTP.Response) in
                        response.headers.filter { !["connection", "date"].contains($0.name) }.map { "\($0.name): \($0.value)" }.sorted()
                    }
                    #expect(compared(fast) == compared(routed))
                    #expect(fast.headers.contains { $0.name == "date" } && routed.headers.contains { $0.name == "date" })
                }
            }
        }
    }

    /// Graceful shutdown waits for a database read under way: its answer is written before the connection closes.
    @Test func aReadUnderWayIsAnsweredWhenShutdownBegins() async throws {
        try await DaemonHarness.with { daemon in
            let user = try await daemon.connectedUser()
            let (port, group, running) = try await daemon.startDaemon()
            // A second user's resolve, never cached, to read while the table is locked.
            let unread = try await daemon.connectedUser()
            let request = RawHTTP.resolve(user: user, token: daemon.gatewayToken, close: false)
            let locked = RawHTTP.resolve(user: unread, token: daemon.gatewayToken, close: false)
            try await daemon.waitUntilServing(port: port, sending: request)
            let answers = try await daemon.shutDownWhileReadHeld(group) {
                Task { try await RawHTTP.exchange(port: port, sends: [locked.head + locked.body]) }
            }
            let exchange = try await answers.value
            // Statuses only: a failed expectation prints its values, and a body holds a token.
            let (statuses, closed) = (exchange.responses.map(\.status), exchange.closed)
            #expect(statuses == [200])
            #expect(closed)
            try await running.value
        }
    }

    /// A read whose client has gone still records its audit event, and graceful shutdown waits for it before the
    /// audit writer's last flush.
    @Test func aReadWhoseClientLeftIsAuditedBeforeShutdownEnds() async throws {
        try await DaemonHarness.with { daemon in
            let user = try await daemon.connectedUser()
            // Stopped in reverse, as `resolverd serve` orders them: the listener, the reads, the audit writer.
            let (port, group, running) = try await daemon.startDaemon()
            let request = RawHTTP.resolve(user: user, token: daemon.gatewayToken, close: false)
            // Another user's resolve, so that this one's is not cached.
            try await daemon.waitUntilServing(port: port, sending: RawHTTP.resolve(user: user + "_other", token: daemon.gatewayToken, close: false))
            try await daemon.shutDownWhileReadHeld(group) {
                try await RawHTTP.sendAndClose(port: port, text: request.head + request.body)
            }
            try await running.value
            #expect(daemon.runtime.fastPathReads.count == 0)
            let rows = try await daemon.pool.query("SELECT outcome FROM audit_events WHERE user_id = \(user)")
            #expect(try rows.map { try $0.decode(String.self, at: 0) } == ["ok"])
        }
    }

    @Test func httpDatesAreIMFFixdate() {
        #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        var date = HTTPDate()
        #expect(date.current(now: Date(timeIntervalSince1970: 1_796_212_800.9)) == "Wed, 02 Dec 2026 12:00:00 GMT")
    }

    @Test func onlyPlainResolvesOnConnectionsThatStayOpenAreHeld() {
        func head(
            _ method: HTTPMethod = .POST, _ uri: String = "/internal/v1/resolve", _ headers: HTTPHeaders = [:],
            version: HTTPVersion = .http1_1
        ) -> HTTPRequestHead {
            var all: HTTPHeaders = ["Host": "localhost"]
            all.add(contentsOf: headers)
            return HTTPRequestHead(version: version, method: method, uri: uri, headers: all)
        }
        #expect(ResolveFastPath.mayAnswer(head()))
        #expect(ResolveFastPath.mayAnswer(head(.POST, "/internal/v1/resolve", ["Connection": "keep-alive"])))
        #expect(!ResolveFastPath.mayAnswer(head(.POST, "/internal/v1/resolve", ["Connection": "Close"])))
        #expect(!ResolveFastPath.mayAnswer(head(.POST, "/internal/v1/resolve", ["Expect": "100-continue"])))
        #expect(!ResolveFastPath.mayAnswer(head(.POST, "/internal/v1/resolve", ["EXPECT": "100-continue"])))
        #expect(!ResolveFastPath.mayAnswer(head(.GET)))
        #expect(!ResolveFastPath.mayAnswer(head(.POST, "/internal/v1/resolve/batch")))
        #expect(!ResolveFastPath.mayAnswer(head(.POST, "/internal/v1/resolve?x=1")))
        #expect(!ResolveFastPath.mayAnswer(head(version: .http1_0)))
        #expect(!ResolveFastPath.mayAnswer(head(.POST, "/internal/v1/resolve", ["Connection": "keep-alive"], version: .http1_0)))
    }

    @Test func theServicesTokenIsTheOneFieldOfItsNameInAnyCase() {
        let token = "svc_\(UInt64.random(in: 0...UInt64.max))"
        #expect(ResolveFastPath.servicesToken(in: ["X-Reeve-Services-Token": token]) == token)
        #expect(ResolveFastPath.servicesToken(in: ["x-reeve-services-token": token, "Content-Type": "application/json"]) == token)
        #expect(ResolveFastPath.servicesToken(in: ["X-REEVE-SERVICES-TOKEN": token]) == token)
        #expect(ResolveFastPath.servicesToken(in: [:]) == nil)
        #expect(ResolveFastPath.servicesToken(in: ["X-Reeve-Services-Tokens": token]) == nil)
        #expect(ResolveFastPath.servicesToken(in: ["X-Reeve-Services-Toke": token]) == nil)
        // Two fields, even equal ones, are refused; so is a value that is not plain visible ASCII.
        #expect(ResolveFastPath.servicesToken(in: ["X-Reeve-Services-Token": token, "x-reeve-services-token": token]) == nil)
        #expect(ResolveFastPath.servicesToken(in: ["X-Reeve-Services-Token": token + " x"]) == nil)
        #expect(ResolveFastPath.servicesToken(in: ["X-Reeve-Services-Token": token + "\u{e9}"]) == nil)
        #expect(ResolveFastPath.servicesToken(in: ["X-Reeve-Services-Token": ""]) == nil)
    }
}

/// A user id no other test uses: connector changes are announced database-wide, so another test's change to
/// the same user and provider would drop this test's cached answer.
private func uniqueUser() -> String { "u_fast_\(UInt64.random(in: 0...UInt64.max))" }

extension DaemonHarness {
    /// Runs `body` with a client of the API listener of the daemon as `resolverd serve` builds it, and its port,
    /// once the cache's change listener listens, so that the cache serves.
    func withLiveAPI<Value: Sendable>(_ body: (DaemonClient, Int) async throws -> Value) async throws -> Value {
        try await runtime.withDaemon { api, _ in
            let deadline = ContinuousClock.now + .seconds(10)
            while !runtime.cache.isListening && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            try #require(runtime.cache.isListening)
            return try await body(api, api.port)
        }
    }

    /// Resolves `body` until its answer is in the cache, and returns how many more resolves that took: an
    /// answer read while any connector changed (other tests change theirs all the time) is not kept.
    func warm(_ client: DaemonClient, _ body: String, token: String) async throws -> Int {
        var resolves = 0
        let deadline = ContinuousClock.now + .seconds(10)
        while runtime.cache.count == 0 && ContinuousClock.now < deadline {
            #expect(try await client.resolve(body, token: token).status == .ok)
            resolves += 1
        }
        try #require(runtime.cache.count == 1)
        return resolves
    }

    /// A new user with a stripe connector.
    func connectedUser() async throws -> String {
        let user = uniqueUser()
        try await runtime.store.put(userID: user, provider: "stripe", credential: Credential(type: .apiKey, accessToken: try Self.sampleKey()))
        return user
    }

    /// Starts the daemon as `resolverd serve` builds it; returns its API port, its service group and the task
    /// running it, for tests of its shutdown.
    func startDaemon() async throws -> (port: Int, group: ServiceGroup, running: Task<Void, any Error>) {
        var options = DaemonOptions(listen: ListenAddress(host: "127.0.0.1", port: 0), adminListen: ListenAddress(host: "127.0.0.1", port: 0))
        options.runsPool = false
        let daemon = buildDaemon(runtime: runtime, options: options)
        let running = Task {
            defer { daemon.ports.close() }
            try await daemon.group.run()
        }
        let ports = try #require(await daemon.ports.bound())
        return (ports.api, daemon.group, running)
    }

    /// Sends `request`, a resolve the cache cannot answer, until the fast path has read one: the listener serves.
    func waitUntilServing(port: Int, sending request: (head: String, body: String)) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while fastPathReads == 0 && ContinuousClock.now < deadline {
            _ = try? await RawHTTP.exchange(port: port, sends: [request.head + request.body])
            try await Task.sleep(for: .milliseconds(20))
        }
        try #require(fastPathReads > 0)
    }

    /// Locks the connectors table in another transaction, calls `send` (which must start one fast-path read), waits
    /// until the read has begun, begins `group`'s graceful shutdown and lets the read go 300 ms later; returns
    /// what `send` returned.
    func shutDownWhileReadHeld<Value: Sendable>(_ group: ServiceGroup, _ send: () async throws -> Value) async throws -> Value {
        let reads = fastPathReads
        return try await pool.withConnection { connection in
            try await connection.execute(unsafeSQL: "BEGIN")
            try await connection.execute(unsafeSQL: "LOCK TABLE connector_tokens IN ACCESS EXCLUSIVE MODE")
            let sent = try await send()
            let deadline = ContinuousClock.now + .seconds(10)
            while fastPathReads == reads && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(fastPathReads == reads + 1 && runtime.fastPathReads.count == 1)
            await group.triggerGracefulShutdown()
            try await Task.sleep(for: .milliseconds(300))
            try await connection.execute(unsafeSQL: "COMMIT")
            return sent
        }
    }

    var eventLoopAnswers: Int { counter("resolverd_resolve_event_loop_answers_total") }
    var fastPathReads: Int { counter("resolverd_resolve_fast_path_reads_total") }

    private func counter(_ name: String) -> Int {
        let metrics = String(decoding: runtime.metrics.render(), as: UTF8.self)
        let line = metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? -1
    }
}

/// HTTP/1.1 over a plain blocking socket, for what the test clients do not do: several requests in one write, a
/// request in pieces. Runs on its own thread, never on the tasks' pool, which the server's router needs.
enum RawHTTP {
    struct Response {
        var statusLine: String
        var status: Int
        /// Names in lower case, in the order sent.
        var headers: [(name: String, value: String)]
        var body: String
    }
    struct Exchange { var responses: [Response]; var closed: Bool }

    /// A stripe resolve for `user` as it goes on the wire: the head (with `Connection: close` if asked) and the body.
    static func resolve(user: String, token: String, close: Bool) -> (head: String, body: String) {
        let body = #"{"provider":"stripe","user_id":"\#(user)"}"#
        let head =
            "POST /internal/v1/resolve HTTP/1.1\r\nHost: localhost\r\nX-Reeve-Services-Token: \(token)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n"
        return (head, body)
    }

    /// Sends each of `sends` (`pause` apart) on one connection and reads the answers.
    static func exchange(port: Int, sends: [String], pause: Duration = .milliseconds(50)) async throws -> Exchange {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try run(port: port, sends: sends, pause: pause) }) }.start()
        }
    }

    /// Sends `text` on a new connection and closes it without reading.
    static func sendAndClose(port: Int, text: String) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            Thread {
                continuation.resume(
                    with: Result {
                        let fd = try connected(port: port)
                        defer { close(fd) }
                        let bytes = Array(text.utf8)
                        guard send(fd, bytes, bytes.count, 0) == bytes.count else { throw SocketError(step: "send") }
                    })
            }.start()
        }
    }

    /// A port nothing listens on now (the kernel's pick for port 0).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError(step: "socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw SocketError(step: "bind") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private struct SocketError: Error { var step: String }

    /// A blocking socket connected to 127.0.0.1:`port`, reads timing out after 10 s.
    private static func connected(port: Int) throws -> Int32 {
        guard let fd = loopbackSocket(port: port) else { throw SocketError(step: "connect") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    private static func run(port: Int, sends: [String], pause: Duration) throws -> Exchange {
        let fd = try connected(port: port)
        defer { close(fd) }
        for (index, text) in sends.enumerated() {
            if index > 0 { usleep(UInt32(pause.components.seconds * 1_000_000 + pause.components.attoseconds / 1_000_000_000_000)) }
            let bytes = Array(text.utf8)
            guard send(fd, bytes, bytes.count, 0) == bytes.count else { throw SocketError(step: "send") }
        }
        // Reads until the server closes, or until it has been quiet for a second with every answer complete.
        var received: [UInt8] = []
        var closed = false
        var quiet = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &quiet, socklen_t(MemoryLayout<timeval>.size))
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = recv(fd, &chunk, chunk.count, 0)
            if count == 0 { closed = true; break }
            if count < 0 { break }
            received += chunk[..<count]
        }
        return Exchange(responses: parse(received), closed: closed)
    }

    /// Status and body of each complete response (bodies by Content-Length).
    private static func parse(_ bytes: [UInt8]) -> [Response] {
        var responses: [Response] = []
        var rest = bytes[...]
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        while let end = rest.firstRange(of: separator) {
            let head = String(decoding: rest[..<end.lowerBound], as: UTF8.self)
            let lines = head.split(separator: "\r\n")
            guard let statusLine = lines.first, let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else { break }
            let headers = lines.dropFirst().compactMap { line -> (name: String, value: String)? in
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2 else { return nil }
                return (parts[0].lowercased(), parts[1].trimmingCharacters(in: .whitespaces))
            }
            let length = headers.first { $0.name == "content-length" }.flatMap { Int($0.value) } ?? 0
            let bodyStart = end.upperBound
            guard rest.distance(from: bodyStart, to: rest.endIndex) >= length else { break }
            let bodyEnd = rest.index(bodyStart, offsetBy: length)
            responses.append(
                Response(
                    statusLine: String(statusLine), status: status, headers: headers,
                    body: String(decoding: rest[bodyStart..<bodyEnd], as: UTF8.self)))
            rest = rest[bodyEnd...]
        }
        return responses
    }
}

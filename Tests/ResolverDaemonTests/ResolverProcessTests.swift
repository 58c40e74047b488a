import AsyncHTTPClient
import Connectors
import Foundation
import Glibc
import NIOCore
import NIOFoundationEssentialsCompat
import NIOHTTP1
import PGClient
import PGTestSupport
import ProviderFakes
import ResolverCrypto
import Synchronization
import Testing

/// The resolver as real `resolverd serve` processes on one database: one process's cache never serves what
/// another changed, and SIGTERM under load loses no audit row.
@Suite(.enabled(if: DaemonProcess.isAvailable), .serialized) struct ResolverProcessTests {
    /// A daemon on `fixture`'s database with a services-token file naming `gateway`; returns it with its API and
    /// admin addresses.
    func start(
        _ name: String, _ fixture: ProcessFixture, token: String, extra: [String: String] = [:]
    ) async throws -> (DaemonProcess, api: String, admin: String) {
        let tokens = fixture.directory.appendingPathComponent("services-tokens").path
        try writeSecretFile("gateway \(token)\n", to: tokens)
        var environment = try fixture.environment(config: "{}")
        environment["RESOLVERD_SERVICES_TOKENS_FILE"] = tokens
        environment.merge(extra) { $1 }
        let daemon = try DaemonProcess.start(environment: environment, logPath: fixture.logPath(name))
        return (daemon, try await daemon.listenAddress("API"), try await daemon.listenAddress("admin"))
    }

    func pool(_ fixture: ProcessFixture) throws -> PGConnectionPool {
        PGConnectionPool(configuration: PGPoolConfiguration(connection: try PGConnectionConfiguration(fixture.databaseURL)))
    }

    /// POSTs a resolve for `user`'s stripe connector: the status and the access token, if one came back.
    func resolve(_ api: String, user: String, token: String, timeout: Duration = .seconds(10)) async throws -> (status: UInt, accessToken: String?) {
        var request = HTTPClientRequest(url: "http://\(api)/internal/v1/resolve")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "X-Reeve-Services-Token", value: token)
        request.body = .bytes(ByteBuffer(string: #"{"provider": "stripe", "user_id": "\#(user)"}"#))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeout.components.seconds))
        let body = try await response.body.collect(upTo: 1 << 20)
        let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
        return (response.status.code, object?["access_token"] as? String)
    }

    /// The value of one line of `/metrics` (its name and labels as printed), 0 when absent.
    func metric(_ admin: String, _ series: String) async throws -> Double {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://\(admin)/metrics"), timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 4 << 20))
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1)) ?? 0
        }
        return 0
    }

    /// The names of a process's threads that read database connections (`resolverd-pgio0`, …), sorted.
    func databaseIOThreads(_ daemon: DaemonProcess) -> [String] {
        let tasks = "/proc/\(daemon.pid)/task"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? []).compactMap { task in
            (try? String(contentsOfFile: "\(tasks)/\(task)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return names.filter { $0.hasPrefix("resolverd-pgio") }.sorted()
    }

    /// Polls `condition` until it holds: how long that took, or nil after `timeout`.
    func timeUntil(timeout: Duration, _ condition: () async throws -> Bool) async throws -> Duration? {
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now < start + timeout {
            if try await condition() { return start.duration(to: clock.now) }
        }
        return nil
    }

    @Test func aCredentialChangedThroughOneProcessIsNotServedStaleByAnother() async throws {
        try await ProcessFixture.with { fixture in
            let token = try DaemonHarness.servicesToken()
            let (one, oneAPI, _) = try await start("one", fixture, token: token)
            let (two, twoAPI, twoAdmin) = try await start("two", fixture, token: token, extra: ["RESOLVERD_PG_IO_THREADS": "3"])
            // RESOLVERD_PG_IO_THREADS sets how many threads read the database connections; two by default.
            #expect(databaseIOThreads(one) == ["resolverd-pgio0", "resolverd-pgio1"])
            #expect(databaseIOThreads(two) == ["resolverd-pgio0", "resolverd-pgio1", "resolverd-pgio2"])
            let pool = try pool(fixture)
            defer { Task { await pool.shutdown() } }
            let store = ConnectorStore(pool: pool, cipher: CredentialCipher(keyring: fixture.keyring))
            let first = try DaemonHarness.sampleKey()
            try await store.put(userID: "u_1", provider: "stripe", credential: Credential(type: .apiKey, accessToken: first))

            // Process two answers from its cache once its listener listens: wait for a hit.
            let cached = try await timeUntil(timeout: .seconds(10)) {
                let answer = try await resolve(twoAPI, user: "u_1", token: token)
                #expect(answer.accessToken == first)
                return try await metric(twoAdmin, #"resolverd_resolve_cache_total{result="hit"}"#) >= 1
            }
            #expect(cached != nil, "process two never answered from its cache")

            // Replaced by an operator's `resolverd connectors put` (a third process): two serves the new key.
            let second = try DaemonHarness.sampleKey()
            let keyFile = fixture.directory.appendingPathComponent("second-key").path
            try Data(second.utf8).write(to: URL(fileURLWithPath: keyFile))
            let environment = try fixture.environment(config: "{}")
            let put = try await DaemonProcess.run(
                ["connectors", "put", "--user", "u_1", "--provider", "stripe", "--api-key-file", keyFile],
                environment: environment, logPath: fixture.logPath("put"))
            #expect(put == 0, "\(String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: fixture.logPath("put")))) ?? Data(), as: UTF8.self))")
            let replaced = try await timeUntil(timeout: .seconds(2)) { try await resolve(twoAPI, user: "u_1", token: token).accessToken == second }
            #expect(replaced != nil && replaced! < .seconds(1), "served the replaced key for \(String(describing: replaced))")

            // Deleted through process one's connectors API: two answers 404 within the notification delay.
            var request = HTTPClientRequest(url: "http://\(oneAPI)/api/connectors/stripe")
            request.method = .DELETE
            request.headers.add(name: "X-Reeve-Services-Token", value: token)
            request.headers.add(name: "X-Reeve-User-Id", value: "u_1")
            let deleted = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            #expect(deleted.status == .ok)
            let gone = try await timeUntil(timeout: .seconds(2)) { try await resolve(twoAPI, user: "u_1", token: token).status == 404 }
            #expect(gone != nil && gone! < .seconds(1), "served the deleted key for \(String(describing: gone))")
            let fromOne = try await resolve(oneAPI, user: "u_1", token: token)
            #expect(fromOne.status == 404)

            for daemon in [one, two] { daemon.signal(SIGTERM) }
            for daemon in [one, two] {
                let status = try await daemon.wait(timeout: .seconds(20))
                #expect(status == 0, "\(daemon.log.suffix(1500))")
            }
        }
    }

    @Test func sigtermDuringLoadLosesNoAuditRow() async throws {
        try await ProcessFixture.with { fixture in
            let token = try DaemonHarness.servicesToken()
            let (daemon, api, _) = try await start("load", fixture, token: token)
            let pool = try pool(fixture)
            defer { Task { await pool.shutdown() } }
            let store = ConnectorStore(pool: pool, cipher: CredentialCipher(keyring: fixture.keyring))
            for index in 0..<50 {
                try await store.put(
                    userID: "u_\(index)", provider: "stripe", credential: Credential(type: .apiKey, accessToken: try DaemonHarness.sampleKey()))
            }

            // 16 clients resolve as fast as they can; SIGTERM arrives in the middle, once 200 answers are in (a
            // loaded machine takes longer to get there). Each client stops at its first failure (the listener
            // closing; the client retries connecting until its timeout, kept short). Every answered resolve must
            // have its audit row.
            let progress = AnswerCount()
            async let exit: (status: Int32?, after: Duration) = {
                let patience = ContinuousClock.now + .seconds(15)
                while progress.value.load(ordering: .relaxed) < 200 && ContinuousClock.now < patience {
                    try await Task.sleep(for: .milliseconds(20))
                }
                try await Task.sleep(for: .milliseconds(200))
                daemon.signal(SIGTERM)
                let signalled = ContinuousClock.now
                let status = try await daemon.wait(timeout: .seconds(20))
                return (status, signalled.duration(to: .now))
            }()
            let stop = ContinuousClock.now + .seconds(35)
            let answered = await withTaskGroup(of: Int.self) { group in
                for client in 0..<16 {
                    group.addTask {
                        var count = 0
                        while ContinuousClock.now < stop {
                            guard let answer = try? await resolve(api, user: "u_\((client + count) % 50)", token: token, timeout: .seconds(3)) else {
                                break
                            }
                            #expect(answer.status == 200)
                            count += 1
                            progress.value.add(1, ordering: .relaxed)
                        }
                        return count
                    }
                }
                return await group.reduce(0, +)
            }
            let (status, after) = try await exit
            #expect(status == 0, "\(daemon.log.suffix(1500))")
            #expect(after < .seconds(10), "resolverd took \(after) to stop")
            #expect(answered > 200, "the load hardly ran: \(answered) answers")
            let audited = try await pool.query("SELECT count(*) FROM audit_events WHERE action = 'resolve' AND outcome = 'ok'")[0].decode(
                Int.self, at: 0)
            // A request the daemon answered but whose answer was cut off by the shutdown is audited too, so the
            // table may hold a few more rows than the clients counted, never fewer.
            print("SIGTERM under load: \(answered) resolves answered, \(audited) audited; exited \(after) after the signal")
            #expect(audited >= answered, "\(answered) resolves answered, \(audited) audited")
            #expect(audited <= answered + 16)
            #expect(!daemon.log.contains("audit events could not be written"))
        }
    }
}

/// Answers counted by the load's clients, read by the task that decides when to send SIGTERM.
private final class AnswerCount: Sendable {
    let value = Atomic<Int>(0)
}

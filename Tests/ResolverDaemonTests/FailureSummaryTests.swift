import Connectors
import FailureLogging
import Foundation
import Hummingbird
import HummingbirdTesting
import PGClient
import PGLocalCluster
import PGTestSupport
import ProviderFakes
import ResolverCrypto
import Testing
@testable import ResolverDaemon

/// A database outage under resolve load reads as a few lines: the first failure, a summary per interval with the
/// count, and the recovery with its duration; not one line per failed request.
@Suite(.enabled(if: TestDatabase.isConfigured)) struct FailureSummaryTests {
    @Test func aDatabaseOutageUnderResolveLoadIsSummarisedNotLoggedPerRequest() async throws {
        try await TestDatabase.withPrivateCluster { cluster in
            var configuration = PGPoolConfiguration(connection: cluster.connectionConfiguration)
            configuration.minConnections = 0
            configuration.maxConnections = 4
            let logs = LogCapture()
            let failures = FailureLog(logger: logs.logger(), interval: .seconds(1))
            let pool = PGConnectionPool(configuration: configuration, logger: logs.logger(), failures: failures)
            do {
                try await ConnectorsSchema.migrator().migrate(on: pool)
                let token = try DaemonHarness.servicesToken()
                let runtime = ResolverRuntime(
                    pool: pool, keyring: try Keyring(keys: ["k1": SymmetricKey(size: .bits256)]),
                    tokens: ServicesTokenBox(try ServicesTokens(parsing: "gateway \(token)", source: "test"), path: nil), logger: logs.logger(),
                    cacheSize: 0, failures: failures)
                try await runtime.store.put(
                    userID: "u_1", provider: "stripe", credential: Credential(type: .apiKey, accessToken: try DaemonHarness.sampleKey()))
                let request = #"{"provider": "stripe", "user_id": "u_1"}"#
                let (failed, outage) = try await runtime.withDaemon { client, _ -> (Int, Duration) in
                    var failed = 0
                    #expect(try await client.resolve(request, token: token).status == .ok)
                    try await cluster.stop()
                    let stopped = ContinuousClock.now
                    while ContinuousClock.now - stopped < .milliseconds(2500) {
                        let status = try await client.resolve(request, token: token).status
                        #expect(status == .serviceUnavailable)
                        if status == .serviceUnavailable { failed += 1 }
                    }
                    try await cluster.start()
                    var status = HTTPResponse.Status.serviceUnavailable
                    while status != .ok && ContinuousClock.now - stopped < .seconds(30) {
                        status = try await client.resolve(request, token: token).status
                        if status == .serviceUnavailable { failed += 1 }
                    }
                    #expect(status == .ok)
                    return (failed, ContinuousClock.now - stopped)
                }
                let lines = logs.text.split(separator: "\n").map(String.init)
                let database = lines.filter { $0.contains("database unavailable") || $0.hasPrefix("error resolve failed") }
                #expect(failed > 50, "the load the summaries are about")
                #expect(lines.filter { $0.hasPrefix("error resolve failed") }.count == 1)
                let summaries = database.filter { $0.contains("resolves answered 503 in the last") }
                #expect(summaries.count <= Int(outage.components.seconds) + 2, "\(summaries)")
                let counted = summaries.compactMap { line in
                    line.firstMatch(of: /database unavailable: (\d+) resolves/).flatMap { Int($0.1) }
                }.reduce(0, +)
                #expect(counted + 1 == failed)
                let recovery = database.filter { $0.contains("database unavailable: cleared after") }
                let expected = "\(failed) resolves answered 503 in all"
                #expect(recovery.count == 1)
                #expect(recovery.first?.contains(expected) == true, Comment(rawValue: recovery.first ?? "no recovery line"))
                // Every request is still at debug. Above it, each condition of the outage (the resolves, the pool's
                // connections, the audit's writes, the change listener) is its first failure, a summary per interval
                // and its recovery; nothing else is logged but the listeners' start.
                #expect(lines.filter { $0.hasPrefix("debug resolve failed") }.count == failed - 1)
                let aboveDebug = lines.filter {
                    !$0.hasPrefix("debug") && !$0.hasPrefix("trace") && !$0.hasPrefix("info") && !$0.contains(#"listening ["address""#)
                }
                let byCondition = Dictionary(grouping: aboveDebug) { line in
                    line.firstMatch(of: /"condition": ([^,\]]+)/).map { String($0.1) } ?? "none"
                }
                #expect(byCondition["none"] == nil, "\(byCondition["none"] ?? [])")
                for (condition, lines) in byCondition {
                    #expect(lines.count <= Int(outage.components.seconds) + 3, "\(condition): \(lines.joined(separator: "\n"))")
                }
            } catch {
                await pool.shutdown()
                throw error
            }
            await pool.shutdown()
        }
    }
}

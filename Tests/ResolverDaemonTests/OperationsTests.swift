import Connectors
import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PGClient
import PGLocalCluster
import PGTestSupport
import ResolverCrypto
import ServiceLifecycle
import Testing
@testable import ResolverDaemon

@Suite(.enabled(if: TestDatabase.isConfigured)) struct OperationsTests {
    @Test func probesAndMetrics() async throws {
        try await DaemonHarness.with { daemon in
            try await daemon.runtime.store.put(
                userID: "u_1", provider: "stripe", credential: Credential(type: .apiKey, accessToken: try DaemonHarness.sampleKey()))
            let gateway = daemon.gatewayToken
            try await daemon.withAPI { client in _ = try await client.resolve(#"{"provider": "stripe", "user_id": "u_1"}"#, token: gateway) }
            try await daemon.withAdmin { client in
                let health = try await client.execute(uri: "/healthz", method: .get)
                #expect(health.status == .ok)
                let ready = try await client.execute(uri: "/readyz", method: .get)
                #expect(ready.status == .ok, "\(ready.text)")
                let metrics = try await client.execute(uri: "/metrics", method: .get)
                #expect(metrics.status == .ok)
                for line in [
                    #"resolverd_resolves_total{outcome="ok"} 1"#, #"resolverd_connectors_count{status="connected"} 1"#,
                    #"resolverd_resolve_cache_total{result="miss"} 1"#, #"resolverd_resolve_cache_total{result="hit"} 0"#,
                    "resolverd_resolve_duration_seconds_bucket", #"resolverd_db_pool_connections{state="in_use"}"#,
                    "resolverd_db_pool_shared_connections", "resolverd_db_pool_pipelined_statements",
                ] {
                    #expect(metrics.text.contains(line), "\(line)")
                }
            }
        }
    }

    /// deploy/'s alert rules and Grafana dashboard query only metrics resolverd exports.
    @Test func theAlertRulesAndDashboardNameMetricsTheDaemonExports() async throws {
        let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../deploy")
        let rules = try String(contentsOfFile: deploy.appendingPathComponent("prometheus-rules.yml").path, encoding: .utf8)
        let ruleNames = Set(rules.matches(of: /resolverd_[a-z_]+/).map { String($0.output) })
        #expect(ruleNames.count >= 6, "\(ruleNames)")

        // The dashboard is JSON Grafana can import: every panel but the rows has queries.
        let dashboardData = try Data(contentsOf: deploy.appendingPathComponent("grafana-dashboard.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: dashboardData) as? [String: Any])
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        var expressions: [String] = []
        for panel in panels where panel["type"] as? String != "row" {
            let targets = (panel["targets"] as? [[String: Any]]) ?? []
            #expect(!targets.isEmpty, "panel \(panel["title"] ?? "?") has no query")
            expressions += targets.compactMap { $0["expr"] as? String }
        }
        let dashboardNames = Set(expressions.flatMap { $0.matches(of: /resolverd_[a-z_]+/).map { String($0.output) } })
        #expect(dashboardNames.count >= 8, "\(dashboardNames)")
        let names = ruleNames.union(dashboardNames)
        let metrics = ResolverMetrics()
        metrics.recordResolve(outcome: "ok", duration: .milliseconds(1))
        metrics.recordCacheLookup(hit: true)
        metrics.recordRefresh(provider: "gmail", outcome: "refreshed", duration: .milliseconds(30))
        metrics.recordRefreshBacklog(due: 0, lag: 0, leases: 0)
        metrics.recordPool(PGConnectionPool.Statistics(open: 2, idle: 1, inUse: 1, waiting: 0, shared: 1, pipelined: 3))
        metrics.recordConnectors(byStatus: ["connected": 1])
        let exported = String(decoding: metrics.render(), as: UTF8.self)
        for name in names {
            // A histogram's series carry _bucket, _count and _sum; a gauge may be named …_count itself.
            let base = ["_bucket", "_count", "_sum"].first(where: { name.hasSuffix($0) }).map { String(name.dropLast($0.count)) } ?? name
            let declared = exported.contains("# TYPE \(name) ") || exported.contains("# TYPE \(base) histogram")
            #expect(declared, "deploy/ uses \(name), which resolverd does not export")
        }
    }

    @Test func readinessNamesTheSchemaWhenItIsNotCurrent() async throws {
        try await TestDatabase.withSchema { pool, _ in
            let runtime = ResolverRuntime(
                pool: pool, keyring: try Keyring(keys: ["k1": SymmetricKey(size: .bits256)]),
                tokens: ServicesTokenBox(ServicesTokens(entries: []), path: nil), logger: Logger(label: "test"))
            try await runtime.withDaemon { _, client in
                let ready = try await client.execute(uri: "/readyz", method: .get)
                #expect(ready.status == .serviceUnavailable)
                #expect(ready.text.contains(#""schema":"not current"#))
            }
        }
    }

    /// A rolling upgrade: `migrate` ran ahead with this release's migrations while replicas of the previous release
    /// (migrations up to 6) still serve. They stay ready, and the previous release's store statements still work
    /// on the newer schema, which only adds to it.
    @Test func aPreviousReleaseStaysReadyOnTheSchemaMigratedAhead() async throws {
        try await TestDatabase.withSchema { pool, _ in
            try await ConnectorsSchema.migrator().migrate(on: pool)
            var runtime = ResolverRuntime(
                pool: pool, keyring: try Keyring(keys: ["k1": SymmetricKey(size: .bits256)]),
                tokens: ServicesTokenBox(ServicesTokens(entries: []), path: nil), logger: Logger(label: "test"))
            runtime.migrator = PGMigrator(migrations: ConnectorsSchema.migrations.filter { $0.version <= 6 })
            try await runtime.withDaemon { _, client in
                let ready = try await client.execute(uri: "/readyz", method: .get)
                #expect(ready.status == .ok, "\(ready.text)")
            }
            // A row as a previous release writes it (none of the newer columns set) reads back here.
            _ = try await pool.query(
                """
                INSERT INTO connector_tokens (id, user_id, provider, type, status, lease_owner, lease_expires_at)
                VALUES ('ct_previous', 'u_prev', 'stripe', 'api_key', 'connected', 'old-replica', now() - interval '1 minute')
                """)
            #expect(try await runtime.store.find(userID: "u_prev", reference: "stripe")?.status == .connected)
        }
    }

    @Test func theDatabaseGoneGives503AndRecovers() async throws {
        try await TestDatabase.withPrivateCluster { cluster in
            var configuration = PGPoolConfiguration(connection: cluster.connectionConfiguration)
            configuration.acquireTimeout = .seconds(2)
            let pool = PGConnectionPool(configuration: configuration)
            defer { Task { await pool.shutdown() } }
            try await ConnectorsSchema.migrator().migrate(on: pool)
            let token = try DaemonHarness.servicesToken()
            let logs = LogCapture()
            let runtime = ResolverRuntime(
                pool: pool, keyring: try Keyring(keys: ["k1": SymmetricKey(size: .bits256)]),
                tokens: ServicesTokenBox(try ServicesTokens(parsing: "gateway \(token)", source: "test"), path: nil), logger: logs.logger())
            let key = try DaemonHarness.sampleKey()
            try await runtime.store.put(userID: "u_1", provider: "stripe", credential: Credential(type: .apiKey, accessToken: key))
            let body = #"{"provider": "stripe", "user_id": "u_1"}"#
            try await runtime.withDaemon { client, admin in
                let response = try await client.resolve(body, token: token)
                #expect(response.status == .ok)
                try await cluster.stop()
                let down = try await client.resolve(body, token: token)
                #expect(down.status == .serviceUnavailable && down.errorCode == "unavailable")
                let ready = try await admin.execute(uri: "/readyz", method: .get)
                #expect(ready.status == .serviceUnavailable && ready.text.contains(#""database":"unreachable"#))
                try await cluster.start()
                var status = HTTPResponse.Status.serviceUnavailable
                for _ in 0..<5 where status != .ok { status = try await client.resolve(body, token: token).status }
                #expect(status == .ok)
            }
            #expect(!logs.text.contains(key) && !logs.text.contains(token))
        }
    }

    @Test func shutdownFlushesEveryAuditEvent() async throws {
        try await TestDatabase.withSchema { pool, _ in
            try await ConnectorsSchema.migrator().migrate(on: pool)
            let audit = AuditWriter(pool: pool, logger: Logger(label: "test"), interval: .seconds(30))
            let group = ServiceGroup(services: [audit], logger: Logger(label: "test"))
            let running = Task { try await group.run() }
            for i in 0..<2_500 {
                audit.record(
                    AuditWriter.Event(
                        actor: "gateway", action: "resolve", outcome: "ok", connectorID: "ct_\(i)", provider: "stripe", userID: "u", at: Date()))
            }
            await group.triggerGracefulShutdown()
            try await running.value
            #expect(try await pool.query("SELECT count(*) FROM audit_events").first?.decode(Int.self, at: 0) == 2_500)
        }
    }

    @Test func systemdHearsReadyWatchdogAndStopping() async throws {
        let path = "/tmp/resolverd-notify-\(UUID().uuidString.prefix(8))"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd); unlink(path) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        // Polls without blocking: a blocking recv would hold one of the few cooperative threads the notifier needs.
        func receive() async -> String? {
            var buffer = [UInt8](repeating: 0, count: 256)
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if count > 0 { return String(decoding: buffer[..<count], as: UTF8.self) }
                try? await Task.sleep(for: .milliseconds(5))
            }
            return nil
        }

        let notifier = SystemdNotifier(
            environment: ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"], logger: Logger(label: "test"), isReady: { true })
        let group = ServiceGroup(services: [notifier], logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        notifier.apiIsListening()
        #expect(await receive()?.hasPrefix("READY=1") == true)
        #expect(await receive() == "WATCHDOG=1")
        #expect(await receive() == "WATCHDOG=1")
        await group.triggerGracefulShutdown()
        try await running.value
        var last: String?
        while let message = await receive() {
            last = message
            if message == "STOPPING=1" { break }
        }
        #expect(last == "STOPPING=1")
    }

    @Test func withoutNotifySocketNothingIsSent() async throws {
        let notifier = SystemdNotifier(environment: [:], logger: Logger(label: "test"), isReady: { true })
        #expect(!notifier.isEnabled)
        let group = ServiceGroup(services: [notifier], logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        notifier.apiIsListening()
        try await Task.sleep(for: .milliseconds(200))
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(notifier.sentCount == 0)
    }
}

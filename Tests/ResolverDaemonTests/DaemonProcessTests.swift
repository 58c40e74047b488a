import Connectors
import Foundation
import Glibc
import PGClient
import PGTestSupport
import ProviderFakes
import ResolverCrypto
import Testing

/// Several `resolverd serve` processes on one database, refreshing tokens at a fake provider: each due token
/// refreshed once, and no grant lost when processes are killed in the middle of refreshing.
@Suite(.enabled(if: DaemonProcess.isAvailable), .serialized) struct DaemonProcessTests {
    func config(fake: FakeOAuthProvider, lease: Int = 10) -> String {
        """
        {
          "providers": {"fake_oauth": {"client_id": "\(fake.configuration.clientID)", "client_secret_file": "SECRET_FILE"}},
          "refresh": {"lease_seconds": \(lease), "base_backoff_seconds": 1, "maximum_backoff_seconds": 2, "concurrency": 16, "budget_floor_seconds": 1},
          "custom_providers": [\(fake.catalogEntry())]
        }
        """
    }

    func environment(_ fixture: ProcessFixture, fake: FakeOAuthProvider, lease: Int = 10) throws -> [String: String] {
        let secretFile = fixture.directory.appendingPathComponent("client-secret").path
        try writeSecretFile(fake.configuration.clientSecret, to: secretFile)
        return try fixture.environment(config: config(fake: fake, lease: lease).replacingOccurrences(of: "SECRET_FILE", with: secretFile))
    }

    func start(_ name: String, _ fixture: ProcessFixture, _ environment: [String: String]) async throws -> DaemonProcess {
        let daemon = try DaemonProcess.start(environment: environment, logPath: fixture.logPath(name))
        try await daemon.waitForLog("refresh scheduler running")
        return daemon
    }

    /// Seeds `count` connectors with grants the fake issued, then makes them all due at once.
    func seedDue(_ count: Int, fixture: ProcessFixture, fake: FakeOAuthProvider, expiresIn: TimeInterval) async throws -> PGConnectionPool {
        var configuration = PGPoolConfiguration(connection: try PGConnectionConfiguration(fixture.databaseURL))
        configuration.maxConnections = 8
        let pool = PGConnectionPool(configuration: configuration)
        let store = ConnectorStore(pool: pool, cipher: CredentialCipher(keyring: fixture.keyring))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for index in stride(from: worker, to: count, by: 8) {
                        let issued = fake.issueTokens()
                        try await store.put(
                            userID: "user-\(index)", provider: "fake_oauth",
                            credential: Credential(
                                type: .oauth, accessToken: issued.accessToken, refreshToken: issued.refreshToken,
                                expiresAt: Date().addingTimeInterval(expiresIn)),
                            nextRefreshAt: Date().addingTimeInterval(3600))
                    }
                }
            }
            try await group.waitForAll()
        }
        try await makeDue(pool, "TRUE")
        return pool
    }

    /// Makes the connectors matching `condition` due now and announces it, as any write does.
    func makeDue(_ pool: PGConnectionPool, _ condition: StaticString) async throws {
        _ = try await pool.query(
            """
            WITH due AS (UPDATE connector_tokens SET next_refresh_at = now() WHERE \(unsafe: condition) RETURNING id)
            SELECT count(*)::bigint, pg_notify(\(ConnectorStore.changeChannel), '{}')::text FROM due
            """)
    }

    func count(_ pool: PGConnectionPool, _ condition: StaticString) async throws -> Int {
        try await pool.query("SELECT count(*) FROM connector_tokens WHERE \(unsafe: condition)")[0].decode(Int.self, at: 0)
    }

    func waitUntil(timeout: Duration, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    @Test func threeProcessesRefreshEachOfAThousandDueTokensOnce() async throws {
        let fake = try await FakeOAuthProvider.start()
        defer { Task { await fake.shutdown() } }
        try await ProcessFixture.with { fixture in
            let environment = try environment(fixture, fake: fake)
            var daemons: [DaemonProcess] = []
            for index in 0..<3 { daemons.append(try await start("daemon-\(index)", fixture, environment)) }
            let pool = try await seedDue(1000, fixture: fixture, fake: fake, expiresIn: 3600)
            let done = try await waitUntil(timeout: .seconds(120)) { try await count(pool, "last_refreshed_at IS NULL") == 0 }
            #expect(done)
            #expect(fake.counters.refreshGrants == 1000)
            #expect(fake.counters.failedRefreshGrants == 0)
            #expect(try await count(pool, "status <> 'connected'") == 0)
            // Graceful stops: exit 0.
            for daemon in daemons { daemon.signal(SIGTERM) }
            for daemon in daemons {
                let status = try await daemon.wait(timeout: .seconds(20))
                #expect(status == 0, "\(daemon.log.suffix(1500))")
            }
            await pool.shutdown()
        }
    }

    /// What a refresh storm with kills left behind.
    struct StormOutcome {
        var kills: Int
        var refreshGrants: Int
        /// Connectors that refreshed again after the restart.
        var refreshedAfterRestart: Int
        /// Connectors whose grant the provider no longer honours: marked `needs_reauth`.
        var lost: Int
    }

    /// 200 connectors whose tokens live 4 s (renewed about every 2 s) at three processes with 3-second leases; every
    /// second or so a random process dies by SIGKILL and another starts, for 12 s. Then all stop, every connector is
    /// made due, and one restarted process must refresh each with what the database holds.
    func storm(_ configuration: FakeOAuthProvider.Configuration) async throws -> StormOutcome {
        let fake = try await FakeOAuthProvider.start(configuration)
        defer { Task { await fake.shutdown() } }
        var outcome = StormOutcome(kills: 0, refreshGrants: 0, refreshedAfterRestart: 0, lost: 0)
        try await ProcessFixture.with { fixture in
            let environment = try environment(fixture, fake: fake, lease: 3)
            var daemons: [DaemonProcess] = []
            for index in 0..<3 { daemons.append(try await start("storm-\(index)", fixture, environment)) }
            let pool = try await seedDue(200, fixture: fixture, fake: fake, expiresIn: 4)
            let stormEnd = ContinuousClock.now + .seconds(12)
            while ContinuousClock.now < stormEnd {
                try await Task.sleep(for: .milliseconds(Int.random(in: 600...1400)))
                let victim = Int.random(in: 0..<daemons.count)
                daemons[victim].signal(SIGKILL)
                _ = try await daemons[victim].wait(timeout: .seconds(5))
                outcome.kills += 1
                daemons[victim] = try await start("storm-\(victim)-\(outcome.kills)", fixture, environment)
            }
            for daemon in daemons { daemon.signal(SIGTERM) }
            for daemon in daemons { _ = try await daemon.wait(timeout: .seconds(20)) }
            outcome.refreshGrants = fake.counters.refreshGrants

            // The restart, every token due: each connector either refreshes or is marked as needing the user.
            let mark = try await pool.query("SELECT now()")[0].decode(Date.self, at: 0)
            try await makeDue(pool, "status = 'connected'")
            let restarted = try await start("restart", fixture, environment)
            let settled = try await waitUntil(timeout: .seconds(60)) {
                try await pool.query(
                    "SELECT count(*) FROM connector_tokens WHERE status = 'connected' AND (last_refreshed_at IS NULL OR last_refreshed_at < \(mark))"
                )[0].decode(Int.self, at: 0) == 0
            }
            #expect(settled, "connectors still waiting for a refresh after the restart")
            outcome.refreshedAfterRestart = try await pool.query(
                "SELECT count(*) FROM connector_tokens WHERE status = 'connected' AND last_refreshed_at >= \(mark)")[0].decode(Int.self, at: 0)
            outcome.lost = try await count(pool, "status = 'needs_reauth'")
            restarted.signal(SIGTERM)
            _ = try await restarted.wait(timeout: .seconds(20))
            await pool.shutdown()
        }
        print(
            "refresh storm (\(configuration.keepPreviousRefreshTokenUntilSuccessorUsed ? "grace" : "strict single-use")): "
                + "\(outcome.kills) kills, \(outcome.refreshGrants) refreshes, \(outcome.refreshedAfterRestart) of 200 refreshed after the restart, \(outcome.lost) lost"
        )
        return outcome
    }

    @Test func killingProcessesInARefreshStormLosesNoGrant() async throws {
        // Single-use rotating refresh tokens whose predecessor stays valid until the successor is used (how
        // Shopify rotates): a process killed after the provider answered but before the write leaves the old
        // token in the database, and the next refresh with it still works.
        var configuration = FakeOAuthProvider.Configuration(accessTokenLifetime: .seconds(4))
        configuration.keepPreviousRefreshTokenUntilSuccessorUsed = true
        let outcome = try await storm(configuration)
        #expect(outcome.kills >= 8)
        #expect(outcome.refreshGrants > 400)
        #expect(outcome.lost == 0, "lost \(outcome.lost) of 200 grants after \(outcome.kills) kills")
        #expect(outcome.refreshedAfterRestart == 200)
    }

    @Test func withStrictSingleUseTokensAKillLosesAtMostItsUnwrittenRefreshes() async throws {
        // Strictly single-use refresh tokens (GitHub's): the grant a process was refreshing when it died between
        // the provider's answer and the write cannot be saved, as the new token died with the process. What the
        // leases and fencing guarantee is that nothing else is lost (no token is ever used twice by two replicas),
        // so each kill loses at most the refreshes it had in flight (16 per process here), and every lost one is
        // marked needs_reauth rather than left looking connected.
        let configuration = FakeOAuthProvider.Configuration(accessTokenLifetime: .seconds(4))
        let outcome = try await storm(configuration)
        #expect(outcome.kills >= 8)
        #expect(outcome.refreshGrants > 400)
        #expect(outcome.lost <= outcome.kills * 16)
        #expect(outcome.refreshedAfterRestart + outcome.lost == 200)
    }
}

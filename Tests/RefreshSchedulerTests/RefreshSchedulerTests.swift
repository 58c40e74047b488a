import Connectors
import FailureLogging
import Foundation
import PGClient
import PGLocalCluster
import PGTestSupport
import ProviderFakes
import RefreshScheduler
import ResolverCrypto
import Synchronization
import Testing

/// The scheduler against a real PostgreSQL and a fake OAuth provider on loopback.
@Suite(.enabled(if: TestDatabase.isConfigured)) struct RefreshSchedulerTests {
    @Test func refreshesAheadOfExpiryAndKeepsTheRotatedRefreshToken() async throws {
        try await SchedulerHarness.with(fake: .init(accessTokenLifetime: .seconds(4))) { harness in
            let scheduler = harness.scheduler()
            // A 4-second token is due half its lifetime early at the latest (never a refresh loop).
            let issued = harness.fake.issueTokens()
            let expiresAt = Date().addingTimeInterval(4)
            let due = try #require(scheduler.nextRefresh(provider: "fake_oauth", expiresAt: expiresAt))
            #expect(due < expiresAt && due >= expiresAt.addingTimeInterval(-2.01))
            let record = try await harness.store.put(
                userID: "u_ahead", provider: "fake_oauth",
                credential: Credential(type: .oauth, accessToken: issued.accessToken, refreshToken: issued.refreshToken, expiresAt: expiresAt),
                nextRefreshAt: due)
            try await harness.running([scheduler]) {
                let refreshed = try await harness.eventually { harness.fake.counters.refreshGrants >= 1 }
                #expect(refreshed)
                let written = try await harness.eventually {
                    try await harness.column("SELECT last_refreshed_at IS NOT NULL FROM connector_tokens", id: record.id, as: Bool.self)
                }
                #expect(written)
            }
            let secrets = try await harness.store.secrets(of: record.id)
            let access = try #require(secrets.accessToken)
            let refresh = try #require(secrets.refreshToken)
            #expect(access != issued.accessToken && harness.fake.isValid(accessToken: access))
            // The provider rotated the refresh token: the stored one is the new one, the old one is dead.
            #expect(refresh != issued.refreshToken && harness.fake.isValid(refreshToken: refresh))
            #expect(!harness.fake.isValid(refreshToken: try #require(issued.refreshToken)))
            let resolved = try #require(try await harness.store.resolve(id: record.id))
            #expect(resolved.record.expiresAt.map { $0 > expiresAt } == true)
            // Within the two seconds, a 4-second token is refreshed about every two seconds, not in a loop.
            #expect(harness.fake.counters.refreshGrants <= 3)
        }
    }

    @Test func aResponseWithoutARefreshTokenKeepsTheOldOne() async throws {
        try await SchedulerHarness.with(fake: .init(omitRefreshTokenOnRefresh: true)) { harness in
            let (record, refreshToken) = try await harness.seed(user: "u_keep")
            try await harness.running([harness.scheduler()]) {
                try await harness.expectEventually("harness.fake.counters.refreshGrants == 1") { harness.fake.counters.refreshGrants == 1 }
                try await harness.expectEventually("condition") {
                    try await harness.column("SELECT last_refreshed_at IS NOT NULL FROM connector_tokens", id: record.id, as: Bool.self)
                }
            }
            let secrets = try await harness.store.secrets(of: record.id)
            #expect(secrets.refreshToken == refreshToken)
            let value1 = try await harness.column("SELECT status FROM connector_tokens", id: record.id, as: String.self)
            #expect(value1 == "connected")
        }
    }

    @Test func invalidGrantNeedsReauthWithANotificationAndASignedWebhook() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { Task { await receiver.stop() } }
        let secret = try SecureRandom.bytes(count: 32)
        try await SchedulerHarness.with { harness in
            let (record, refreshToken) = try await harness.seed(user: "u_dead", dueIn: 1)
            harness.fake.invalidate(refreshToken: try #require(refreshToken))
            let events = PGListener(configuration: harness.connection).events(channels: [ConnectorStore.eventChannel])
            let heard = Mutex<[String]>([])
            let listening = Task {
                for await event in events {
                    if case .notification(let note) = event, note.payload.contains(record.id) { heard.withLock { $0.append(note.payload) } }
                    if Task.isCancelled { break }
                }
            }
            defer { listening.cancel() }
            try await Task.sleep(for: .milliseconds(300))
            try await harness.running([harness.scheduler(webhook: WebhookConfiguration(url: receiver.url, secret: secret))]) {
                try await harness.expectEventually("condition") {
                    try await harness.column("SELECT status FROM connector_tokens", id: record.id, as: String.self) == "needs_reauth"
                }
                try await harness.expectEventually("!receiver.deliveries.isEmpty") { !receiver.deliveries.isEmpty }
                try await harness.expectEventually("!heard.withLock { $0.isEmpty }") { !heard.withLock { $0.isEmpty } }
            }
            let value2 = try await harness.column("SELECT next_refresh_at IS NULL FROM connector_tokens", id: record.id, as: Bool.self)
            #expect(value2)
            let value3 = try await harness.column("SELECT last_refresh_error FROM connector_tokens", id: record.id, as: String?.self)
            #expect(value3?.contains("invalid_grant") == true)
            let note = try #require(heard.withLock { $0.first })
            #expect(note.contains("needs_reauth") && note.contains("event_id"))

            let delivery = try #require(receiver.deliveries.first)
            let timestamp = try #require(delivery.headers["x-resolverd-timestamp"])
            let expected = "sha256=" + Hex.encode(HMACSHA256.authenticationCode(for: Array("\(timestamp).".utf8) + delivery.body, key: secret))
            #expect(delivery.headers["x-resolverd-signature"] == expected)
            #expect(delivery.headers["x-resolverd-event-id"]?.hasPrefix("ev_") == true)
            let body = String(decoding: delivery.body, as: UTF8.self)
            #expect(body.contains(record.id) && body.contains("needs_reauth"))
            #expect(!body.contains(refreshToken ?? "-"))
            // No more attempts for a connector that needs the user.
            let attempts = harness.fake.counters.failedRefreshGrants
            try await harness.running([harness.scheduler()]) { try await Task.sleep(for: .seconds(1)) }
            #expect(harness.fake.counters.failedRefreshGrants == attempts)
        }
    }

    @Test func serverErrorsAndThrottlingBackOffThenRecover() async throws {
        try await SchedulerHarness.with { harness in
            let (record, _) = try await harness.seed(user: "u_flaky")
            harness.fake.failNext(2, with: .serverError(status: 503))
            try await harness.running([harness.scheduler()]) {
                try await harness.expectEventually("harness.fake.counters.refreshGrants == 1") { harness.fake.counters.refreshGrants == 1 }
            }
            #expect(harness.fake.counters.faultsInjected == 2)
            let value4 = try await harness.column("SELECT refresh_failures FROM connector_tokens", id: record.id, as: Int.self)
            #expect(value4 == 0)
            let value5 = try await harness.column("SELECT status FROM connector_tokens", id: record.id, as: String.self)
            #expect(value5 == "connected")

            // A 429 with Retry-After: the next attempt waits at least that long.
            let (throttled, _) = try await harness.seed(user: "u_throttled")
            harness.fake.failNext(1, with: .rateLimited(retryAfterSeconds: 2))
            let before = harness.fake.counters.refreshGrants
            let started = ContinuousClock.now
            try await harness.running([harness.scheduler()]) {
                try await harness.expectEventually("condition") {
                    try await harness.column("SELECT refresh_failures FROM connector_tokens", id: throttled.id, as: Int.self) == 1
                }
                let retryAt = try await harness.column("SELECT next_refresh_at FROM connector_tokens", id: throttled.id, as: Date.self)
                #expect(retryAt.timeIntervalSinceNow > 1)
                try await harness.expectEventually("harness.fake.counters.refreshGrants == before + 1") {
                    harness.fake.counters.refreshGrants == before + 1
                }
            }
            #expect(started.duration(to: .now) >= .seconds(2))
            let value6 = try await harness.column("SELECT refresh_failures FROM connector_tokens", id: throttled.id, as: Int.self)
            #expect(value6 == 0)
        }
    }

    @Test func fiftyConcurrentOnDemandRefreshesMakeOneProviderCall() async throws {
        try await SchedulerHarness.with { harness in
            let (record, _) = try await harness.seed(user: "u_burst", expiresIn: 30, dueIn: nil)
            let scheduler = harness.scheduler()
            harness.fake.setFault(.slow(.milliseconds(300)))
            // The resolver with the scheduler's hook, asked for a token valid longer than the stored one.
            let resolver = Resolver(store: harness.store, refresh: scheduler.resolverHook)
            let tokens = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<50 {
                    group.addTask { try await resolver.resolve(userID: "u_burst", provider: "fake_oauth", minValidSeconds: 120).accessToken }
                }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            harness.fake.setFault(.none)
            #expect(harness.fake.counters.refreshGrants == 1)
            #expect(tokens.count == 1)
            #expect(harness.fake.isValid(accessToken: try #require(tokens.first)))
            let value7 = try await harness.column("SELECT lease_owner IS NULL FROM connector_tokens", id: record.id, as: Bool.self)
            #expect(value7)
        }
    }

    @Test func aLeaseHeldByADeadReplicaIsTakenOverAfterItExpires() async throws {
        try await SchedulerHarness.with { harness in
            let (record, _) = try await harness.seed(user: "u_orphan")
            _ = try await harness.pool.query(
                "UPDATE connector_tokens SET lease_owner = 'dead-replica', lease_expires_at = now() + interval '1500 milliseconds' WHERE id = \(record.id)"
            )
            let started = ContinuousClock.now
            try await harness.running([harness.scheduler()]) {
                try await harness.expectEventually("harness.fake.counters.refreshGrants == 1") { harness.fake.counters.refreshGrants == 1 }
            }
            #expect(started.duration(to: .now) >= .milliseconds(1400))
            let value8 = try await harness.column("SELECT lease_owner IS NULL FROM connector_tokens", id: record.id, as: Bool.self)
            #expect(value8)
        }
    }

    @Test func aRotatedTokenIsWrittenOnceTheDatabaseComesBack() async throws {
        try await SchedulerHarness.with(privateCluster: true) { harness in
            let cluster = try #require(harness.cluster)
            let (record, oldRefreshToken) = try await harness.seed(user: "u_outage")
            // The provider answers in 2 s; meanwhile the database goes away, and comes back 3 s later.
            harness.fake.setFault(.slow(.seconds(2)))
            try await harness.running([harness.scheduler()]) {
                try await harness.expectEventually("the connector is leased") {
                    try await harness.column("SELECT lease_owner IS NOT NULL FROM connector_tokens", id: record.id, as: Bool.self)
                }
                try await cluster.stop()
                try await harness.expectEventually("the provider rotated the refresh token", timeout: .seconds(10)) {
                    harness.fake.counters.refreshGrants == 1
                }
                try await Task.sleep(for: .seconds(3))
                try await cluster.start()
                harness.fake.setFault(.none)
                try await harness.expectEventually("the refreshed token is written after the outage", timeout: .seconds(20)) {
                    (try? await harness.column("SELECT last_refreshed_at IS NOT NULL FROM connector_tokens", id: record.id, as: Bool.self)) == true
                }
            }
            // The rotated token was kept in memory through the outage: the stored one is the live one.
            let stored = try #require(try await harness.store.secrets(of: record.id).refreshToken)
            #expect(stored != oldRefreshToken && harness.fake.isValid(refreshToken: stored))
            #expect(!harness.fake.isValid(refreshToken: try #require(oldRefreshToken)))
            #expect(harness.fake.counters.refreshGrants == 1)
            #expect(try await harness.column("SELECT status FROM connector_tokens", id: record.id, as: String.self) == "connected")
        }
    }

    @Test func gracefulShutdownLetsARefreshInFlightFinishAndWrite() async throws {
        try await SchedulerHarness.with { harness in
            let (record, refreshToken) = try await harness.seed(user: "u_drain")
            harness.fake.setFault(.slow(.milliseconds(800)))
            try await harness.running([harness.scheduler()]) {
                // Shut down while the provider call is running.
                try await harness.expectEventually("condition") {
                    try await harness.column("SELECT lease_owner IS NOT NULL FROM connector_tokens", id: record.id, as: Bool.self)
                }
            }
            #expect(harness.fake.counters.refreshGrants == 1)
            let value9 = try await harness.column(
                "SELECT last_refreshed_at IS NOT NULL AND lease_owner IS NULL FROM connector_tokens", id: record.id, as: Bool.self)
            #expect(value9)
            let stored = try await harness.store.secrets(of: record.id).refreshToken
            let storedToken = try #require(stored)
            #expect(stored != refreshToken && harness.fake.isValid(refreshToken: storedToken))
        }
    }

    /// Two replicas, one provider slot each, a 2 s lease and a provider answering in 1.5 s with strictly single-use
    /// refresh tokens: a claim waits longer than its lease for the slot, and another replica takes the lease
    /// meanwhile. The first must not call the provider with the token the second is spending.
    @Test func aLeaseThatExpiresWhileWaitingForAProviderSlotIsNeverSpentTwice() async throws {
        try await SchedulerHarness.with { harness in
            harness.fake.setFault(.slow(.milliseconds(1500)))
            var records: [ConnectorRecord] = []
            for index in 0..<4 { records.append(try await harness.seed(user: "u_slot_\(index)").record) }
            let replicas = ["replica-a", "replica-b"].map { harness.scheduler(owner: $0, concurrency: 8, perProvider: 1, lease: .seconds(2)) }
            try await harness.running(replicas) {
                try await harness.expectEventually("every connector refreshed once", timeout: .seconds(60)) {
                    harness.fake.counters.refreshGrants >= records.count
                }
            }
            for record in records {
                let status = try await harness.column("SELECT status FROM connector_tokens", id: record.id, as: String.self)
                #expect(status == "connected", "\(record.userID)")
            }
            #expect(harness.fake.counters.failedRefreshGrants == 0)
        }
    }

    /// 30-second tokens resolved with the default `min_valid_seconds` of 60, through two replicas: one provider
    /// refresh per budget (max(10 s, lifetime / 4)), and every answer the freshest token with its real expiry.
    @Test func tokensShorterLivedThanMinValidAreRefreshedOncePerBudget() async throws {
        try await SchedulerHarness.with(fake: .init(accessTokenLifetime: .seconds(30))) { harness in
            let (record, _) = try await harness.seed(user: "u_short", expiresIn: 30, dueIn: nil)
            let replicas = [harness.scheduler(owner: "replica-a"), harness.scheduler(owner: "replica-b")]
            let resolvers = replicas.map { Resolver(store: harness.store, refresh: $0.resolverHook) }
            var tokens = Set<String>()
            for index in 0..<40 {
                let resolved = try await resolvers[index % 2].resolve(userID: "u_short", provider: "fake_oauth", minValidSeconds: 60)
                #expect(harness.fake.isValid(accessToken: resolved.accessToken))
                #expect((resolved.record.expiresAt ?? .distantPast) > Date())
                tokens.insert(resolved.accessToken)
            }
            #expect(harness.fake.counters.refreshGrants == 1)
            #expect(tokens.count == 1)
            // The API's refresh shares the budget, and says when it is spent no longer.
            do {
                _ = try await replicas[0].refreshNow(connectorID: record.id)
                Issue.record("a refresh within the budget reached the provider")
            } catch let error as ConnectorError {
                #expect(error.code == .refreshBudgetSpent)
                #expect((error.retryAfter ?? .distantPast) > Date())
            }
            #expect(harness.fake.counters.refreshGrants == 1)
            let due = try await harness.column(
                "SELECT next_refresh_at > now() + interval '5 seconds' FROM connector_tokens", id: record.id, as: Bool.self)
            #expect(due, "the scheduler's next refresh is not inside the budget")
        }
    }

    /// A provider answering 500 to every refresh: one line when it starts, at most one summary per interval with
    /// the count, and one when it clears; each attempt stays at debug.
    @Test func aProviderFailingManyRefreshesIsSummarisedOncePerInterval() async throws {
        try await SchedulerHarness.with { harness in
            for index in 0..<20 { try await harness.seed(user: "u_500_\(index)") }
            harness.fake.setFault(.serverError(status: 500))
            let lines = LogLines()
            let failures = FailureLog(logger: lines.logger(), interval: .seconds(1))
            let started = ContinuousClock.now
            try await harness.running([harness.scheduler(failures: failures)]) {
                try await Task.sleep(for: .milliseconds(2500))
                harness.fake.setFault(.none)
                try await harness.expectEventually("every connector refreshed once the provider answers") {
                    harness.fake.counters.refreshGrants >= 20
                }
            }
            let elapsed = Int((ContinuousClock.now - started).components.seconds) + 1
            let said = lines.aboveDebug.filter { $0.metadata["condition"]?.hasPrefix("refresh failures at fake_oauth") == true }
            let attempts = harness.fake.counters.faultsInjected
            #expect(attempts > 40, "the storm of failures the summaries are about")
            #expect(said.filter { $0.message == "refresh failed; retrying later" }.count == 1)
            let summaries = said.filter { $0.message.contains("refreshes postponed in the last") }
            #expect(summaries.count <= elapsed + 1, "\(summaries.map(\.message))")
            let cleared = said.filter { $0.message.contains("cleared after") }
            #expect(cleared.count == 1)
            #expect(cleared.first?.metadata["count"] == "\(attempts)")
            let summarised = summaries.compactMap { Int($0.metadata["count"] ?? "") }.reduce(0, +)
            #expect(summarised + 1 == attempts)
            #expect(said.count == summaries.count + 2)
        }
    }

    /// Answers no database column can hold as they are: an `expires_in` of 10^17 seconds (as a string, past the
    /// JSON number guard), a NUL in `scope` and in `instance_url`. They are clamped or left out before the write,
    /// which lands; the process neither traps nor retries a write that can never succeed, and keeps refreshing.
    @Test func providerAnswersThatCannotBeStoredAsTheyAreAreClampedOrLeftOut() async throws {
        let odd = ["expires_in": "100000000000000000", "scope": "read\u{0}write other", "instance_url": "https://x.example\u{0}"]
        try await SchedulerHarness.with(fake: .init(tokenAnswerExtras: odd)) { harness in
            let (record, _) = try await harness.seed(user: "u_odd")
            let (other, _) = try await harness.seed(user: "u_other", dueIn: 2)
            try await harness.running([harness.scheduler(concurrency: 1)]) {
                try await harness.expectEventually("both refreshed", timeout: .seconds(20)) {
                    harness.fake.counters.refreshGrants >= 2
                }
                try await harness.expectEventually("both written") {
                    let written = try await harness.pool.query(
                        "SELECT count(*)::bigint FROM connector_tokens WHERE last_refreshed_at IS NOT NULL AND id IN (\(record.id), \(other.id))")
                    return try written[0].decode(Int64.self, at: 0) == 2
                }
            }
            let years = try await harness.column(
                "SELECT extract(epoch FROM expires_at - now())::float8 / 31536000 FROM connector_tokens", id: record.id, as: Double.self)
            #expect(years > 9 && years <= 10.01)
            #expect(try await harness.column("SELECT status FROM connector_tokens", id: record.id, as: String.self) == "connected")
            #expect(try await harness.column("SELECT scopes FROM connector_tokens", id: record.id, as: [String].self) == ["other"])
            #expect(
                try await harness.column("SELECT metadata::text FROM connector_tokens", id: record.id, as: String.self).contains("instance_url")
                    == false)
        }
    }

    /// The lease fence is the claim, not the replica: after a reconnect the same replica claims the row again, and
    /// the slow refresh of the old grant it started before must not overwrite the new grant's tokens.
    @Test func aWriteUnderALeaseIsFencedOnItsClaimNotOnlyItsReplica() async throws {
        try await SchedulerHarness.with { harness in
            let (record, _) = try await harness.seed(user: "u_fence")
            let store = harness.store
            let first = try #require(try await store.claimDue(owner: "replica-a", limit: 1, lease: .seconds(60)).first?.get())
            // The user connects again meanwhile (perhaps another account): the lease is cleared.
            let reconnected = harness.fake.issueTokens()
            try await store.put(
                userID: "u_fence", provider: "fake_oauth",
                credential: Credential(
                    type: .oauth, accessToken: reconnected.accessToken, refreshToken: reconnected.refreshToken,
                    expiresAt: Date().addingTimeInterval(3600)),
                nextRefreshAt: Date())
            let second = try #require(try await store.claimDue(owner: "replica-a", limit: 1, lease: .seconds(60)).first?.get())
            #expect(second.leaseToken != first.leaseToken)
            // The old grant's refresh ends now: refused, whatever the replica.
            let old = harness.fake.issueTokens()
            let late = RefreshedCredential(
                accessToken: old.accessToken, refreshToken: old.refreshToken, expiresAt: Date().addingTimeInterval(3600), scopes: nil,
                nextRefreshAt: nil)
            #expect(try await store.completeRefresh(id: record.id, owner: "replica-a", token: first.leaseToken, with: late) == nil)
            #expect(try await store.postponeRefresh(id: record.id, owner: "replica-a", token: first.leaseToken, until: Date(), error: "x") == false)
            #expect(try await store.secrets(of: record.id).accessToken == reconnected.accessToken)
            // The current claim still writes.
            #expect(try await store.completeRefresh(id: record.id, owner: "replica-a", token: second.leaseToken, with: late) != nil)
        }
    }

    /// A refresh in flight that fails for good while the user disables the connector leaves it disabled; enabling it
    /// again shows that it needs a new grant.
    @Test func aRefreshFailingForGoodDoesNotUndoADisable() async throws {
        try await SchedulerHarness.with { harness in
            let (record, _) = try await harness.seed(user: "u_disabled")
            let store = harness.store
            let claimed = try #require(try await store.claimDue(owner: "replica-a", limit: 1, lease: .seconds(60)).first?.get())
            #expect(try await store.update(userID: "u_disabled", reference: record.id, change: .init(enabled: false))?.status == .disabled)
            #expect(
                try await store.markNeedsReauth(
                    id: record.id, owner: "replica-a", token: claimed.leaseToken, reason: "invalid_grant", eventID: "ev_test"))
            #expect(try await store.find(userID: "u_disabled", reference: record.id)?.status == .disabled)
            #expect(try await store.update(userID: "u_disabled", reference: record.id, change: .init(enabled: true))?.status == .needsReauth)
        }
    }

    /// A mistyped client secret: the provider answers invalid_client to every refresh. No connector is marked
    /// needs_reauth, the provider is paused after the first refusals (no hot loop), and one refresh after the pause
    /// (or the operator's SIGHUP, `resume`) finds the fixed configuration and ends it.
    @Test func aRefusedClientConfigurationPausesTheProviderAndLeavesConnectorsAlone() async throws {
        try await SchedulerHarness.with { harness in
            var records: [ConnectorRecord] = []
            for index in 0..<12 { records.append(try await harness.seed(user: "u_cfg_\(index)").record) }
            let wrong = ["fake_oauth": OAuthClient(clientID: harness.fake.configuration.clientID, clientSecret: "not-the-secret")]
            let misconfigured = harness.scheduler(concurrency: 4, clients: wrong)
            try await harness.running([misconfigured]) {
                try await harness.expectEventually("the provider refused the configuration") { harness.fake.counters.invalidClientRequests >= 1 }
                try await Task.sleep(for: .seconds(2))
            }
            let refusals = harness.fake.counters.invalidClientRequests
            #expect(refusals <= 4, "at most the refreshes already in flight when the first refusal came")
            for record in records {
                #expect(try await harness.column("SELECT status FROM connector_tokens", id: record.id, as: String.self) == "connected")
            }
            #expect(try await harness.column("SELECT refresh_failures FROM connector_tokens", id: records[0].id, as: Int.self) == 0)
            // The configuration fixed (here: a scheduler with the right secret), the operator's SIGHUP resumes it.
            let fixed = harness.scheduler(concurrency: 4)
            _ = try await harness.pool.query("UPDATE connector_tokens SET next_refresh_at = now()")
            try await harness.running([fixed]) {
                fixed.resume()
                try await harness.expectEventually("every connector refreshed", timeout: .seconds(20)) { harness.fake.counters.refreshGrants >= 12 }
            }
        }
    }

    @Test func replicasOnOneDatabaseRefreshEachDueTokenOnce() async throws {
        try await SchedulerHarness.with(maxConnections: 12) { harness in
            let count = 300
            for index in 0..<count { try await harness.seed(user: "u_\(index)") }
            let replicas = (0..<3).map { harness.scheduler(owner: "replica-\($0)", concurrency: 6) }
            try await harness.running(replicas) {
                try await harness.expectEventually("condition", timeout: .seconds(60)) {
                    try await harness.pool.query("SELECT count(*) FROM connector_tokens WHERE last_refreshed_at IS NULL")[0].decode(Int.self, at: 0)
                        == 0
                }
            }
            #expect(harness.fake.counters.refreshGrants == count)
            #expect(harness.fake.counters.failedRefreshGrants == 0)
        }
    }
}

public import Connectors
public import FailureLogging
public import Foundation
public import Logging
public import PGClient
import ResolverCrypto
public import ServiceLifecycle
import Synchronization
public import Timekeeping

/// How a refresh ended, for the metrics.
public enum RefreshOutcome: String, Sendable {
    case refreshed, transientFailure = "transient_failure", needsReauth = "needs_reauth", leaseLost = "lease_lost", skipped
    /// Not attempted, or refused, because the provider refused the operator's client configuration.
    case providerMisconfigured = "provider_misconfigured"
}

/// Renews OAuth tokens before they expire, once across all replicas (see DESIGN.md, "Refresh behaviour").
///
/// The loop sleeps until the next due connector, a change notification or shutdown; takes due connectors in
/// batches under leases; calls providers with no database connection held, within a global and a per-provider
/// limit; and writes each result only while it holds the lease. On-demand refreshes (the resolver's hook, the
/// API's refresh) go through the same lease, with one in-process flight per connector. On graceful shutdown it
/// takes nothing new and lets the refreshes in flight finish and write.
public final class RefreshScheduler: Service, Sendable {
    public let store: ConnectorStore
    public let configuration: RefreshConfiguration
    let catalog: ProviderCatalog
    let registrations: ProviderRegistrations
    let client: ProviderClient
    let planner: RefreshPlanner
    let listener: PGListener?
    let logger: Logger
    let observe: @Sendable (_ provider: String, _ outcome: RefreshOutcome, _ duration: Duration) -> Void
    /// Where repeated refresh failures are summarised, per provider and error.
    let failures: FailureLog
    /// What the loop's waits, the pauses and the due times run by. Leases and claims run by the database's clock.
    let time: any TimeSource

    private let slots: ConcurrencyLimiter
    private let providerSlots: Mutex<[String: ConcurrencyLimiter]> = Mutex([:])
    private let inFlight: Mutex<[String: Task<ResolvedConnector?, any Error>]> = Mutex([:])
    /// Providers whose client configuration was refused, and until when their refreshes wait; one refresh then
    /// tries again, and a success ends the pause.
    private let paused: Mutex<[String: Date]> = Mutex([:])
    private let wake = WakeSignal()
    private let stopping = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)
    private let webhook: WebhookSender?

    public init(
        store: ConnectorStore, catalog: ProviderCatalog, registrations: ProviderRegistrations, client: ProviderClient,
        configuration: RefreshConfiguration, listener: PGListener?,
        logger: Logger, observe: @escaping @Sendable (String, RefreshOutcome, Duration) -> Void = { _, _, _ in }, failures: FailureLog? = nil,
        time: any TimeSource = SystemTime()
    ) {
        self.time = time
        self.failures = failures ?? FailureLog(logger: logger)
        self.store = store
        self.catalog = catalog
        self.registrations = registrations
        self.client = client
        self.configuration = configuration
        self.planner = RefreshPlanner(timing: configuration.timing)
        self.listener = listener
        self.logger = logger
        self.observe = observe
        self.slots = ConcurrencyLimiter(limit: configuration.concurrency)
        self.webhook = configuration.webhook.map { WebhookSender(configuration: $0, logger: logger) }
    }

    /// True while the loop runs: readiness reports a scheduler that has died.
    public var isRunning: Bool { running.load(ordering: .relaxed) }

    /// When a connector of `provider` expiring at `expiresAt` is next due (for writes made elsewhere: the OAuth callback).
    public func nextRefresh(provider: String, expiresAt: Date?) -> Date? {
        planner.nextRefresh(provider: catalog.provider(provider), expiresAt: expiresAt, now: time.now)
    }

    // MARK: The loop

    public func run() async throws {
        // A scheduler may run again after a graceful shutdown (a test's daemon started twice).
        stopping.store(false, ordering: .relaxed)
        running.store(true, ordering: .relaxed)
        defer { running.store(false, ordering: .relaxed) }
        logger.info("refresh scheduler running", metadata: ["owner": "\(configuration.owner)", "concurrency": "\(configuration.concurrency)"])
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                if let listener {
                    group.addTask { [wake] in
                        // Any change may bring a due time forward: look again.
                        for await event in listener.events(channels: [ConnectorStore.changeChannel]) {
                            if case .notification = event { wake.fire() }
                            if Task.isCancelled { break }
                        }
                    }
                }
                group.addTask { [configuration] in
                    while !Task.isCancelled {
                        try? await self.time.sleep(for: configuration.housekeepingInterval)
                        if Task.isCancelled { break }
                        await self.housekeep()
                    }
                }
                await loop(group: &group)
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.wake.fire()
        }
        logger.info("refresh scheduler stopped")
    }

    private var isStopping: Bool { stopping.load(ordering: .relaxed) || Task.isCancelled }

    private func loop(group: inout DiscardingTaskGroup) async {
        var failures = 0
        // While the last claim came back full there is a backlog: claim again once a quarter of the slots are free
        // (or a moment has passed), not for every slot that frees, so that one claim serves many refreshes.
        var backlog = false
        var lastClaim = time.instant
        let refill = max(1, min(configuration.batchSize, configuration.concurrency / 4))
        let refillWait = Duration.milliseconds(100)
        while !isStopping {
            let free = slots.available
            if free > 0 && (!backlog || free >= refill || time.instant - lastClaim >= refillWait) {
                lastClaim = time.instant
                let limit = min(configuration.batchSize, free)
                let claimed: [Result<LeasedConnector, any Error>]
                do {
                    claimed = try await store.claimDue(owner: configuration.owner, limit: limit, lease: configuration.lease)
                    failures = 0
                } catch {
                    failures += 1
                    let delay = min(Duration.seconds(30), .milliseconds(250) * (1 << min(failures, 7)))
                    logger.warning("cannot take due connectors; retrying", metadata: ["error": "\(error)", "retry_in": "\(delay)"])
                    await wake.wait(until: time.instant + delay, time: time)
                    continue
                }
                for result in claimed {
                    switch result {
                    case .success(let leased) where isInFlight(leased.id):
                        // Already being refreshed here (an on-demand refresh, or one whose lease ran out while it
                        // waited): it keeps its own slot; joining it would hold a second one.
                        continue
                    case .success(let leased):
                        // Taken now, so the claim never outruns the slots; released when the refresh ends.
                        try? await slots.acquire()
                        group.addTask {
                            defer { self.slots.release(); self.wake.fire() }
                            _ = try? await self.flight(for: leased.id) { try await self.refresh(leased) }
                        }
                    case .failure(let error):
                        logger.critical("a due connector's secret does not decrypt", metadata: ["error": "\(error)", "alert": "corrupt_credential"])
                    }
                }
                backlog = claimed.count == limit
                if backlog && slots.available >= refill { continue }
            }
            // Sleep until a refresh ends (with a backlog), or else until the next due time, a change, a free slot
            // or the idle check.
            let now = time.instant
            var deadline = now + configuration.idleCheck
            if backlog, slots.available > 0 { deadline = min(deadline, lastClaim + refillWait) }
            if !backlog, slots.available > 0, let next = try? await store.nextRefreshDate() {
                let wait = max(0, next.timeIntervalSince(time.now))
                deadline = min(deadline, now + .milliseconds(Int64(wait * 1000) + 5))
            }
            await wake.wait(until: deadline, time: time)
        }
    }

    // MARK: One refresh

    /// One in-process flight per connector: a second caller joins the first.
    private func flight(for id: String, _ body: @escaping @Sendable () async throws -> ResolvedConnector?) async throws -> ResolvedConnector? {
        let task = inFlight.withLock { flights -> Task<ResolvedConnector?, any Error> in
            if let existing = flights[id] { return existing }
            let task = Task { try await body() }
            flights[id] = task
            return task
        }
        defer { inFlight.withLock { flights in if flights[id] == task { flights[id] = nil } } }
        return try await task.value
    }

    private func isInFlight(_ id: String) -> Bool { inFlight.withLock { $0[id] != nil } }

    private func providerLimiter(_ slug: String) -> ConcurrencyLimiter {
        providerSlots.withLock { limiters in
            if let limiter = limiters[slug] { return limiter }
            let limiter = ConcurrencyLimiter(limit: configuration.perProviderConcurrency)
            limiters[slug] = limiter
            return limiter
        }
    }

    /// Refreshes a leased connector and writes the outcome under the lease. Returns the connector with its new
    /// token, or nil when the refresh failed for now or the lease was lost; throws when it needs the user again.
    func refresh(_ leased: LeasedConnector) async throws -> ResolvedConnector? {
        let started = ContinuousClock.now
        guard let provider = catalog.provider(leased.provider), provider.canRefresh else {
            try await postpone(
                leased, error: "the provider is not in the catalog or is not refreshable", retryAfter: nil, started: started,
                backoff: configuration.maximumBackoff)
            return nil
        }
        if let until = paused.withLock({ $0[provider.slug] }), until > time.now {
            // The provider refused the operator's configuration moments ago: no call until the pause ends.
            try await store.deferRefresh(id: leased.id, owner: configuration.owner, token: leased.leaseToken, until: until)
            observe(leased.provider, .providerMisconfigured, started.duration(to: .now))
            return nil
        }
        let tokens: TokenResponse
        do {
            tokens = try await providerLimiter(provider.slug).withSlot {
                // The wait for the slot may have outlasted the lease: renew it and read the refresh token again now.
                switch try await self.store.renewLease(
                    id: leased.id, owner: self.configuration.owner, token: leased.leaseToken, lease: self.configuration.lease,
                    version: leased.version)
                {
                case .renewed(let current): return try await self.callProvider(provider, current)
                case .lost: throw LeaseLost()
                case .budgetSpent(let until): throw Self.budgetSpent(until)
                }
            }
        } catch is LeaseLost {
            logger.debug(
                "lease taken over while waiting for a provider slot", metadata: ["connector_id": "\(leased.id)", "provider": "\(leased.provider)"])
            observe(leased.provider, .leaseLost, started.duration(to: .now))
            return nil
        } catch let error as ConnectorError where error.code == .refreshBudgetSpent {
            observe(leased.provider, .skipped, started.duration(to: .now))
            throw error
        } catch let failure as ProviderFailure {
            switch failure {
            case .rejected(let code, true, _):
                try await needsReauth(leased, reason: "\(provider.name) refused the refresh (\(code.prefix(64)))", started: started)
                throw ConnectorError(.needsReauth, message: "the \(provider.slug) connector must be connected again")
            case .unavailable(let reason, let retryAfter):
                try await postpone(leased, error: reason, retryAfter: retryAfter, started: started)
            case .rejected(let code, false, let status):
                try await postpone(leased, error: "HTTP \(status) \(code.prefix(64))", retryAfter: nil, started: started)
            case .malformed(let reason):
                try await postpone(leased, error: reason, retryAfter: nil, started: started)
            case .misconfigured(let code, let status):
                // Not the user's grant: every connector of the provider stays as it is, and the provider waits.
                let until = time.now.addingTimeInterval(configuration.misconfigurationPause.timeInterval)
                paused.withLock { $0[provider.slug] = until }
                failures.record(
                    FailureLog.Kind(
                        condition: "\(provider.slug) refuses the client configuration (\(code.prefix(64)))", counted: "refreshes held",
                        level: .critical),
                    "the provider refused resolverd's client configuration; its refreshes wait until it is fixed",
                    metadata: ["provider": "\(provider.slug)", "status": "\(status)", "alert": "provider_misconfigured", "paused_until": "\(until)"])
                try await store.deferRefresh(id: leased.id, owner: configuration.owner, token: leased.leaseToken, until: until)
                observe(leased.provider, .providerMisconfigured, started.duration(to: .now))
            }
            return nil
        } catch let error as ConnectorError {
            try await postpone(leased, error: error.message, retryAfter: nil, started: started, backoff: configuration.maximumBackoff)
            return nil
        } catch is CancellationError {
            try? await store.releaseLease(id: leased.id, owner: configuration.owner, token: leased.leaseToken)
            throw CancellationError()
        }
        let now = time.now
        let lifetime = tokens.expiresIn ?? provider.oauth?.defaultLifetimeSeconds
        let expiresAt = lifetime.map { now.addingTimeInterval(TimeInterval($0)) }
        var facts: [String: JSONValue] = [:]
        // A new instance URL is kept only on the provider's own domains; later calls go there.
        if let instance = provider.acceptedFacts(tokens.facts.filter { $0.key == "instance_url" }).accepted["instance_url"] {
            facts["instance_url"] = .string(instance)
        }
        let refreshed = RefreshedCredential(
            accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt: expiresAt, scopes: tokens.scopes,
            nextRefreshAt: planner.nextRefresh(provider: provider, expiresAt: expiresAt, now: now), metadataJSON: JSONValue.object(facts).jsonText())
        // A rotated refresh token exists only in this process until this write: retried until it lands, never dropped.
        var delay = Duration.milliseconds(100)
        while true {
            do {
                let written = try await store.completeRefresh(
                    id: leased.id, owner: configuration.owner, token: leased.leaseToken, with: refreshed, budgetFloor: configuration.budgetFloor)
                if written == nil {
                    logger.error(
                        "lease lost before the refresh was written; the result is discarded",
                        metadata: ["connector_id": "\(leased.id)", "provider": "\(leased.provider)"])
                    observe(leased.provider, .leaseLost, started.duration(to: .now))
                } else {
                    observe(leased.provider, .refreshed, started.duration(to: .now))
                    failures.clear(Self.writeFailures)
                    resume(provider: leased.provider)
                    let prefix = Self.failurePrefix(leased.provider)
                    failures.clear { $0.condition.hasPrefix(prefix) }
                }
                return written
            } catch  where Self.isTransient(error) {
                failures.record(
                    Self.writeFailures, "cannot write a refreshed token; retrying",
                    metadata: ["connector_id": "\(leased.id)", "error": "\(error)", "retry_in": "\(delay)"])
                // Not cancellable: the new refresh token must be kept.
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            } catch {
                // The database refuses this write for good: retrying would hold the lease and a slot forever. The
                // provider's answer is lost, so the connector must not look connected.
                logger.critical(
                    "a refreshed token cannot be stored; the connector needs a new grant",
                    metadata: ["connector_id": "\(leased.id)", "provider": "\(leased.provider)", "error": "\(error)"])
                try await needsReauth(leased, reason: "the provider's answer could not be stored", started: started)
                throw ConnectorError(.needsReauth, message: "the \(leased.provider) connector must be connected again")
            }
        }
    }

    private static let writeFailures = FailureLog.Kind(
        condition: "refreshed tokens not written yet", counted: "write attempts failed", level: .error)

    /// True for database errors that a later attempt may not meet: the server away or restarting, out of
    /// resources, read-only for now, a statement timeout. A value the server refuses (SQLSTATE class 22) is not.
    static func isTransient(_ error: any Error) -> Bool {
        guard let error = error as? PGError else { return false }
        if error.isRetryable || error.code == .statementTimeout || error.code == .poolClosed { return true }
        guard error.code == .server, let state = error.sqlState else { return false }
        return state == "25006" || ["08", "53", "57", "58"].contains(String(state.prefix(2)))
    }

    private func callProvider(_ provider: ProviderDefinition, _ leased: LeasedConnector) async throws -> TokenResponse {
        let templateValues = registrations.templateValues(
            provider: provider.slug, accessToken: leased.accessToken, settingsJSON: leased.settingsJSON, metadataJSON: leased.metadataJSON)
        if provider.oauth?.grantType == .githubAppInstallation {
            guard let app = registrations.apps[provider.slug] else {
                throw ConnectorError(.providerNotConfigured, message: "no GitHub App configured for \(provider.slug)")
            }
            return try await client.installationToken(provider: provider, app: app, values: templateValues)
        }
        guard let oauthClient = registrations.clients[provider.slug] else {
            throw ConnectorError(.providerNotConfigured, message: "no OAuth client configured for \(provider.slug)")
        }
        return try await client.refresh(
            provider: provider, client: oauthClient, refreshToken: leased.refreshToken, accessToken: leased.accessToken ?? "", values: templateValues)
    }

    private func postpone(_ leased: LeasedConnector, error: String, retryAfter: Duration?, started: ContinuousClock.Instant, backoff: Duration? = nil)
        async throws
    {
        // Exponential with full jitter, capped; a provider's Retry-After is a floor.
        let ceiling = min(configuration.maximumBackoff, configuration.baseBackoff * (1 << min(leased.failures, 20)))
        var delay = backoff ?? .milliseconds(Int64(Double.random(in: 0...1) * Double(ceiling.components.seconds * 1000)))
        if let retryAfter { delay = max(delay, retryAfter) }
        let next = time.now.addingTimeInterval(Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18)
        let kind = FailureLog.Kind(
            condition: Self.failurePrefix(leased.provider) + "(\(error.prefix(80)))", counted: "refreshes postponed", level: .warning)
        failures.record(
            kind, "refresh failed; retrying later",
            metadata: [
                "connector_id": "\(leased.id)", "provider": "\(leased.provider)", "error": "\(error)", "failures": "\(leased.failures + 1)",
                "retry_at": "\(next)",
            ])
        try await store.postponeRefresh(id: leased.id, owner: configuration.owner, token: leased.leaseToken, until: next, error: error)
        observe(leased.provider, .transientFailure, started.duration(to: .now))
    }

    private func needsReauth(_ leased: LeasedConnector, reason: String, started: ContinuousClock.Instant) async throws {
        let eventID = try Identifiers.make(prefix: "ev_")
        failures.record(
            FailureLog.Kind(condition: "grants refused at \(leased.provider)", counted: "connectors marked needs_reauth", level: .warning),
            "connector needs to be connected again",
            metadata: ["connector_id": "\(leased.id)", "provider": "\(leased.provider)", "reason": "\(reason)"])
        guard
            try await store.markNeedsReauth(
                id: leased.id, owner: configuration.owner, token: leased.leaseToken, reason: reason, eventID: eventID)
        else {
            observe(leased.provider, .leaseLost, started.duration(to: .now))
            return
        }
        observe(leased.provider, .needsReauth, started.duration(to: .now))
        if let webhook {
            let event: JSONValue = .object([
                "event": .string("needs_reauth"), "event_id": .string(eventID), "connector_id": .string(leased.id),
                "user_id": .string(leased.userID), "provider": .string(leased.provider), "reason": .string(reason),
                "at": .string(time.now.formatted(.iso8601)),
            ])
            webhook.send(eventID: eventID, body: Array(event.jsonText().utf8))
        }
    }

    /// Ends a provider's pause (a refresh of it worked, or the operator says the configuration is fixed: SIGHUP).
    public func resume(provider: String? = nil) {
        let resumed = paused.withLock { paused -> [String] in
            let slugs = provider.map { paused[$0] == nil ? [] : [$0] } ?? Array(paused.keys)
            for slug in slugs { paused[slug] = nil }
            return slugs
        }
        for slug in resumed {
            failures.clear { $0.condition.hasPrefix("\(slug) refuses the client configuration") }
            wake.fire()
        }
    }

    /// The start of the condition of every refresh failure kind of `provider`.
    static func failurePrefix(_ provider: String) -> String { "refresh failures at \(provider) " }

    // MARK: Housekeeping

    /// Revokes the tokens of grants held for a confirmation that never came (their connectors become `failed`),
    /// and deletes grants decided more than `grantRetention` ago. Safe on several replicas at once.
    public func housekeep() async {
        let grants = GrantStore(pool: store.pool, cipher: store.cipher, time: time)
        do {
            for (grant, held) in try await grants.takeUnconfirmed() {
                if let provider = catalog.provider(grant.provider) {
                    let templateValues = registrations.templateValues(
                        provider: provider.slug, accessToken: held.credential.accessToken, settingsJSON: held.settingsJSON,
                        metadataJSON: held.metadataJSON)
                    do {
                        _ = try await client.revoke(
                            provider: provider, client: registrations.clients[provider.slug], accessToken: held.credential.accessToken,
                            refreshToken: held.credential.refreshToken, values: templateValues)
                    } catch {
                        logger.warning("revoking an unconfirmed grant failed", metadata: ["provider": "\(grant.provider)", "error": "\(error)"])
                    }
                }
                try await store.failPending(id: grant.connectorID, reason: "grant_not_confirmed")
            }
            let deleted = try await grants.deleteFinished(olderThan: configuration.grantRetention)
            if deleted > 0 { logger.debug("deleted finished grants", metadata: ["count": "\(deleted)"]) }
        } catch {
            logger.warning("grant housekeeping failed; trying again later", metadata: ["error": "\(error)"])
        }
    }

    // MARK: On demand

    /// Refreshes one connector now (the resolver's hook for a token about to expire, and the API's refresh):
    /// through its lease, joining a refresh of it already running in this process, or waiting (bounded) for the
    /// replica that holds the lease and then reading its result.
    ///
    /// With `unlessChangedSince`, a connector written since that version (another caller's refresh finished in
    /// between) is answered as it is, without a provider call.
    ///
    /// A connector refreshed at the provider within its budget is not refreshed again: `ConnectorError`
    /// `refresh_budget_spent`, with when it may be.
    public func refreshNow(connectorID: String, unlessChangedSince version: Int64? = nil) async throws -> ResolvedConnector {
        let result = try await flight(for: connectorID) {
            switch try await self.store.claim(id: connectorID, owner: self.configuration.owner, lease: self.configuration.lease) {
            case .budgetSpent(let until):
                throw Self.budgetSpent(until)
            case .claimed(let leased):
                if let version, leased.version != version {
                    try await self.store.releaseLease(id: connectorID, owner: self.configuration.owner, token: leased.leaseToken)
                    return try await self.store.resolve(id: connectorID)
                }
                return try await self.refresh(leased)
            case .heldElsewhere(let until):
                return try await self.awaitOtherReplica(connectorID, until: until)
            case .unavailable(let status):
                if status == .needsReauth { throw ConnectorError(.needsReauth, message: "the connector must be connected again") }
                throw ConnectorError(.notConnected, message: "the connector is not connected")
            }
        }
        guard let result else { throw ConnectorError(.refreshUnavailable, message: "the provider could not renew the token now") }
        return result
    }

    private func awaitOtherReplica(_ id: String, until: Date) async throws -> ResolvedConnector? {
        let deadline = ContinuousClock.now + min(configuration.onDemandWait, .milliseconds(Int64(max(0, until.timeIntervalSinceNow) * 1000) + 50))
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            guard let leased = try await store.isLeased(id: id) else {
                throw ConnectorError(.notConnected, message: "the connector was deleted")
            }
            if !leased { break }
        }
        return try await store.resolve(id: id)
    }

    /// The connector whose token is about to expire, renewed: the resolver's refresh hook. Within the refresh
    /// budget it is the freshest stored token instead, with its real expiry.
    public var resolverHook: Resolver.RefreshHook {
        { [self] record in
            do {
                return try await self.refreshNow(connectorID: record.id, unlessChangedSince: record.version)
            } catch let error as ConnectorError where error.code == .refreshBudgetSpent {
                guard let stored = try await self.store.resolve(id: record.id) else { throw error }
                return stored
            }
        }
    }

    static func budgetSpent(_ until: Date) -> ConnectorError {
        ConnectorError(.refreshBudgetSpent, message: "the connector was refreshed moments ago; it may be again shortly", retryAfter: until)
    }
}

/// The lease of a claimed connector passed to another replica (or the connector changed) before its provider call.
struct LeaseLost: Error {}

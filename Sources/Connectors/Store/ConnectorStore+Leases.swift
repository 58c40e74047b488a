public import Foundation
import PGClient

/// A connector taken for refresh under a lease: its state as read under the lease, secrets opened.
public struct LeasedConnector: Sendable {
    public var id: String
    public var userID: String
    public var provider: String
    public var accessToken: String?
    public var refreshToken: String?
    public var expiresAt: Date?
    public var settingsJSON: String
    public var metadataJSON: String
    public var failures: Int
    public var version: Int64
    /// The claim's own token: writes under this lease are fenced on it.
    public var leaseToken: String
}

/// What taking one connector's lease found.
public enum LeaseClaim: Sendable {
    case claimed(LeasedConnector)
    /// Another replica refreshes it now; its lease runs until then.
    case heldElsewhere(until: Date)
    /// It is gone, or no longer connected.
    case unavailable(ConnectorStatus?)
    /// It was refreshed at the provider too recently: not again before then.
    case budgetSpent(until: Date)
}

/// What renewing a claimed connector's lease right before its provider call found.
public enum LeaseRenewal: Sendable {
    /// Still this replica's, as it is now.
    case renewed(LeasedConnector)
    /// Another replica holds it, or it changed since the claim.
    case lost
    /// Refreshed at the provider too recently (another replica's refresh): not again before then.
    case budgetSpent(until: Date)
}

/// The refreshed credential to write.
public struct RefreshedCredential: Sendable {
    public var accessToken: String
    /// nil keeps the stored refresh token (the provider sent none).
    public var refreshToken: String?
    public var expiresAt: Date?
    public var scopes: [String]?
    public var nextRefreshAt: Date?
    /// Facts to merge into the metadata (a new `instance_url`).
    public var metadataJSON: String

    public init(accessToken: String, refreshToken: String?, expiresAt: Date?, scopes: [String]?, nextRefreshAt: Date?, metadataJSON: String = "{}") {
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.expiresAt = expiresAt
        self.scopes = scopes
        self.nextRefreshAt = nextRefreshAt
        self.metadataJSON = metadataJSON
    }
}

/// The refresh work in the database, as the scheduler's statements see it.
public struct RefreshBacklog: Sendable {
    /// Connectors due now.
    public var due: Int
    /// How late the oldest due refresh is.
    public var lag: TimeInterval
    /// Leases held now, by any replica.
    public var leases: Int
}

/// Leases: the refresh scheduler's statements. A replica takes due connectors with `FOR UPDATE SKIP LOCKED`,
/// sets its lease (owner, expiry and a token of this claim) and reads them in one statement; it writes a result
/// only while that claim still holds the lease (fencing on owner and token), in one statement that clears the
/// lease and announces the change.
extension ConnectorStore {
    /// The NOTIFY channel of connector events (`needs_reauth`); payload
    /// `{"event", "event_id", "id", "user_id", "provider", "reason", "at"}`.
    public static let eventChannel = "resolverd_connector_events"

    static let leaseColumns: StaticString = """
        id, user_id, provider, access_token, refresh_token, expires_at, settings::text, metadata::text, refresh_failures, version, lease_token
        """

    func leased(_ row: PGRow) throws -> LeasedConnector {
        let (id, userID, provider, access, refresh, expiresAt, settings, metadata, failures, version) =
            try row.decode((String, String, String, [UInt8]?, [UInt8]?, Date?, String, String, Int32, Int64).self)
        let leaseToken = try row.decode(String?.self, at: 10) ?? ""
        return LeasedConnector(
            id: id, userID: userID, provider: provider,
            accessToken: try access.map { try cipher.open($0, id: id, column: .accessToken) },
            refreshToken: try refresh.map { try cipher.open($0, id: id, column: .refreshToken) },
            expiresAt: expiresAt, settingsJSON: settings, metadataJSON: metadata, failures: Int(failures), version: version,
            leaseToken: leaseToken)
    }

    /// Takes up to `limit` due connectors whose lease is free or expired, leases them to `owner` for `lease`, and
    /// reads them: one round trip. Rows another replica is taking are skipped, not waited for. A row whose secret
    /// does not open is returned as an error in its place.
    public func claimDue(owner: String, limit: Int, lease: Duration) async throws -> [Result<LeasedConnector, any Error>] {
        let rows = try await pool.query(
            """
            UPDATE connector_tokens c SET lease_owner = \(owner), lease_expires_at = now() + make_interval(secs => \(lease.seconds)),
                lease_token = gen_random_uuid()::text
            FROM (
                SELECT id FROM connector_tokens
                WHERE status = 'connected' AND next_refresh_at <= now() AND (lease_owner IS NULL OR lease_expires_at < now())
                ORDER BY next_refresh_at LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            ) due
            WHERE c.id = due.id
            RETURNING c.id, c.user_id, c.provider, c.access_token, c.refresh_token, c.expires_at, c.settings::text, c.metadata::text,
                      c.refresh_failures, c.version, c.lease_token
            """)
        return rows.map { row in Result { try leased(row) } }
    }

    /// Takes the lease of one connector now (an on-demand refresh), unless another replica holds it.
    public func claim(id: String, owner: String, lease: Duration) async throws -> LeaseClaim {
        let rows = try await pool.query(
            """
            UPDATE connector_tokens SET lease_owner = \(owner), lease_expires_at = now() + make_interval(secs => \(lease.seconds)),
                lease_token = gen_random_uuid()::text
            WHERE id = \(id) AND status = 'connected' AND (lease_owner IS NULL OR lease_expires_at < now())
              AND (refresh_budget_until IS NULL OR refresh_budget_until <= now())
            RETURNING \(unsafe: Self.leaseColumns)
            """)
        if let row = rows.first { return .claimed(try leased(row)) }
        let found = try await pool.query(
            "SELECT status, lease_owner, lease_expires_at, refresh_budget_until FROM connector_tokens WHERE id = \(id)")
        guard let row = found.first else { return .unavailable(nil) }
        let (status, leaseOwner, leaseExpiresAt, budgetEnd) = try row.decode((String, String?, Date?, Date?).self)
        if status == "connected", leaseOwner != nil, let leaseExpiresAt, leaseExpiresAt > Date() { return .heldElsewhere(until: leaseExpiresAt) }
        if status == "connected", let budgetEnd, budgetEnd > Date() { return .budgetSpent(until: budgetEnd) }
        if status == "connected", let leaseExpiresAt { return .heldElsewhere(until: leaseExpiresAt) }
        return .unavailable(ConnectorStatus(rawValue: status))
    }

    /// Renews `owner`'s lease of a connector right before its provider call, and reads it again: nil when the
    /// connector changed since it was claimed (`version`) or another replica holds the lease now. A claim can wait
    /// longer than its lease for a provider slot; without this, another replica could take the expired lease and
    /// both would spend the same single-use refresh token.
    ///
    /// A connector refreshed at the provider within its budget (`refresh_budget_until`) is not renewed: its lease is freed
    /// and its next refresh set to the budget's end.
    public func renewLease(id: String, owner: String, token: String, lease: Duration, version: Int64) async throws -> LeaseRenewal {
        let rows = try await pool.query(
            """
            UPDATE connector_tokens SET lease_owner = \(owner), lease_expires_at = now() + make_interval(secs => \(lease.seconds)),
                lease_token = \(token)
            WHERE id = \(id) AND status = 'connected' AND version = \(version)
              AND (lease_owner IS NULL OR (lease_owner = \(owner) AND lease_token = \(token)) OR lease_expires_at < now())
              AND (refresh_budget_until IS NULL OR refresh_budget_until <= now())
            RETURNING \(unsafe: Self.leaseColumns)
            """)
        if let row = rows.first { return .renewed(try leased(row)) }
        let deferred = try await pool.query(
            """
            UPDATE connector_tokens SET next_refresh_at = refresh_budget_until, lease_owner = NULL, lease_expires_at = NULL, lease_token = NULL
            WHERE id = \(id) AND lease_owner = \(owner) AND lease_token = \(token) AND refresh_budget_until > now()
            RETURNING next_refresh_at
            """)
        if let until = try deferred.first?.decode(Date.self, at: 0) { return .budgetSpent(until: until) }
        return .lost
    }

    /// Writes a refreshed credential if `owner` still holds the lease, clears the lease and announces the change,
    /// in one statement. Nil when the lease was lost (another replica took over): nothing is written.
    ///
    /// The refresh spends the connector's refresh budget: no provider refresh of it again for max(`budgetFloor`, a
    /// quarter of the new token's lifetime), however many callers and replicas ask; the next scheduled refresh is
    /// never inside that.
    public func completeRefresh(
        id: String, owner: String, token: String, with refreshed: RefreshedCredential, budgetFloor: Duration = .seconds(10)
    ) async throws -> ResolvedConnector? {
        let access = try cipher.seal(refreshed.accessToken, id: id, column: .accessToken)
        let refresh = try refreshed.refreshToken.map { try cipher.seal($0, id: id, column: .refreshToken) }
        let rows = try await pool.query(
            """
            WITH updated AS (
                UPDATE connector_tokens SET
                    access_token = \(access), refresh_token = COALESCE(\(refresh), refresh_token), expires_at = \(refreshed.expiresAt),
                    scopes = COALESCE(\(refreshed.scopes), scopes), metadata = metadata || \(refreshed.metadataJSON)::jsonb,
                    refresh_budget_until = now() + greatest(
                        make_interval(secs => \(budgetFloor.seconds)), (\(refreshed.expiresAt)::timestamptz - now()) / 4),
                    next_refresh_at = CASE WHEN \(refreshed.nextRefreshAt)::timestamptz IS NULL THEN NULL ELSE greatest(
                        \(refreshed.nextRefreshAt)::timestamptz, now() + greatest(
                            make_interval(secs => \(budgetFloor.seconds)), (\(refreshed.expiresAt)::timestamptz - now()) / 4)) END,
                    last_refreshed_at = now(), refresh_failures = 0,
                    last_refresh_error = NULL, lease_owner = NULL, lease_expires_at = NULL, lease_token = NULL, version = version + 1,
                    updated_at = now()
                WHERE id = \(id) AND lease_owner = \(owner) AND lease_token = \(token)
                RETURNING \(unsafe: Self.recordColumns)
            )
            SELECT updated.*, pg_notify(\(Self.changeChannel), json_build_object('id', id, 'user_id', user_id, 'provider', provider)::text)::text
            FROM updated
            """)
        guard let row = rows.first else { return nil }
        return ResolvedConnector(record: try Self.record(from: row), accessToken: refreshed.accessToken, tokenType: "Bearer")
    }

    /// A refresh that failed for now: counts it, sets the next attempt, frees the lease. False when the lease was lost.
    @discardableResult
    public func postponeRefresh(id: String, owner: String, token: String, until next: Date, error: String) async throws -> Bool {
        let rows = try await pool.query(
            """
            UPDATE connector_tokens SET refresh_failures = refresh_failures + 1, last_refresh_error = \(error),
                next_refresh_at = \(next), lease_owner = NULL, lease_expires_at = NULL, lease_token = NULL
            WHERE id = \(id) AND lease_owner = \(owner) AND lease_token = \(token)
            RETURNING id
            """)
        return !rows.isEmpty
    }

    /// Frees the lease and sets the next refresh, counting no failure (a provider paused for its configuration).
    public func deferRefresh(id: String, owner: String, token: String, until next: Date) async throws {
        _ = try await pool.query(
            """
            UPDATE connector_tokens SET next_refresh_at = \(next), lease_owner = NULL, lease_expires_at = NULL, lease_token = NULL
            WHERE id = \(id) AND lease_owner = \(owner) AND lease_token = \(token)
            """)
    }

    /// A refresh that failed for good: the connector needs the user to connect again. Stops its schedule and
    /// announces both the change and a `needs_reauth` event, in one statement. False when the lease was lost.
    @discardableResult
    public func markNeedsReauth(id: String, owner: String, token: String, reason: String, eventID: String) async throws -> Bool {
        let rows = try await pool.query(
            """
            WITH updated AS (
                UPDATE connector_tokens SET
                    -- A connector the user disabled meanwhile stays disabled, and comes back needing a new grant.
                    status = CASE WHEN status = 'disabled' THEN 'disabled' ELSE 'needs_reauth' END,
                    status_before_disabled = CASE WHEN status = 'disabled' THEN 'needs_reauth' ELSE status_before_disabled END,
                    last_refresh_error = \(reason), next_refresh_at = NULL,
                    refresh_failures = refresh_failures + 1, lease_owner = NULL, lease_expires_at = NULL, lease_token = NULL,
                    version = version + 1, updated_at = now()
                WHERE id = \(id) AND lease_owner = \(owner) AND lease_token = \(token)
                RETURNING id, user_id, provider
            )
            SELECT pg_notify(\(Self.changeChannel), json_build_object('id', id, 'user_id', user_id, 'provider', provider)::text)::text,
                   pg_notify(\(Self.eventChannel), json_build_object(
                       'event', 'needs_reauth', 'event_id', \(eventID)::text, 'id', id, 'user_id', user_id, 'provider', provider,
                       'reason', \(reason)::text, 'at', now())::text)::text
            FROM updated
            """)
        return !rows.isEmpty
    }

    /// Frees a lease without writing (a shutdown before the provider call).
    /// Whether a replica holds the connector's refresh lease now; nil when the connector is gone. Leases are not
    /// checked for expiry here: a lapsed lease is free to claim, but its holder may still be writing.
    public func isLeased(id: String) async throws -> Bool? {
        let rows = try await pool.query("SELECT lease_owner IS NOT NULL FROM connector_tokens WHERE id = \(id)")
        return try rows.first?.decode(Bool.self, at: 0)
    }

    public func releaseLease(id: String, owner: String, token: String) async throws {
        _ = try await pool.query(
            """
            UPDATE connector_tokens SET lease_owner = NULL, lease_expires_at = NULL, lease_token = NULL
            WHERE id = \(id) AND lease_owner = \(owner) AND lease_token = \(token)
            """)
    }

    /// When the next refresh could start: the earliest due connector with a free lease, or the earliest lease to expire.
    public func nextRefreshDate() async throws -> Date? {
        let rows = try await pool.query(
            """
            SELECT least(
                (SELECT next_refresh_at FROM connector_tokens
                 WHERE status = 'connected' AND next_refresh_at IS NOT NULL AND (lease_owner IS NULL OR lease_expires_at < now())
                 ORDER BY next_refresh_at LIMIT 1),
                (SELECT lease_expires_at FROM connector_tokens WHERE lease_owner IS NOT NULL ORDER BY lease_expires_at LIMIT 1))
            """)
        return try rows.first?.decode(Date?.self, at: 0)
    }

    /// The due backlog, its lag and the leases held, for the metrics.
    public func refreshBacklog() async throws -> RefreshBacklog {
        let rows = try await pool.query(
            """
            SELECT count(*) FILTER (WHERE next_refresh_at <= now())::bigint,
                   COALESCE(extract(epoch FROM now() - min(next_refresh_at) FILTER (WHERE next_refresh_at <= now())), 0)::float8,
                   count(*) FILTER (WHERE lease_owner IS NOT NULL AND lease_expires_at > now())::bigint
            FROM connector_tokens WHERE status = 'connected' AND next_refresh_at IS NOT NULL
            """)
        let (due, lag, leases) = try rows[0].decode((Int64, Double, Int64).self)
        return RefreshBacklog(due: Int(due), lag: lag, leases: Int(leases))
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

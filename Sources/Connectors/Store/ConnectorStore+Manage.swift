public import Foundation
import PGClient

/// What a user may filter a connector list by.
public struct ConnectorFilter: Sendable {
    public var provider: String?
    public var role: ConnectorRole?
    public var status: ConnectorStatus?
    /// Only these providers (a caller's allow-list); nil: any.
    public var providers: [String]?

    public init(provider: String? = nil, role: ConnectorRole? = nil, status: ConnectorStatus? = nil, providers: [String]? = nil) {
        self.provider = provider
        self.role = role
        self.status = status
        self.providers = providers
    }
}

/// Where a page of a list starts: after the connector with this creation time and id (the list's order, so a
/// cursor stays right while connectors are added).
public struct ConnectorCursor: Sendable, Equatable {
    public var createdAt: Date
    public var id: String

    public init(createdAt: Date, id: String) {
        self.createdAt = createdAt
        self.id = id
    }

    /// Opaque text: base64url of `microseconds:id`.
    public var token: String {
        let micros = Int64((createdAt.timeIntervalSince1970 * 1_000_000).rounded())
        return Data("\(micros):\(id)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public init?(token: String) {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard token.count <= 128, !token.contains("+"), !token.contains("/") else { return nil }
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8),
            let colon = text.firstIndex(of: ":"), let micros = Int64(text[..<colon])
        else { return nil }
        let id = String(text[text.index(after: colon)...])
        guard id.hasPrefix("ct_"), id.count == 29 else { return nil }
        self.init(createdAt: Date(timeIntervalSince1970: Double(micros) / 1_000_000), id: id)
    }
}

/// The opened secrets of one connector, for calls made at the provider (test, revoke, refresh).
public struct ConnectorSecrets: Sendable {
    public var accessToken: String?
    public var refreshToken: String?
}

extension ConnectorStore {
    /// The connector `reference` (its id or its provider slug) of `userID`; nil when that user has none.
    public func find(userID: String, reference: String) async throws -> ConnectorRecord? {
        let rows = try await pool.query(
            "SELECT \(unsafe: Self.recordColumns) FROM connector_tokens WHERE user_id = \(userID) AND (id = \(reference) OR provider = \(reference))")
        return try rows.first.map(Self.record(from:))
    }

    /// One page of a user's connectors in creation order, and the cursor of the next page when there is one.
    public func page(userID: String, filter: ConnectorFilter, after cursor: ConnectorCursor?, limit: Int) async throws -> (
        [ConnectorRecord], ConnectorCursor?
    ) {
        let rows = try await pool.query(
            """
            SELECT \(unsafe: Self.recordColumns) FROM connector_tokens
            WHERE user_id = \(userID)
              AND (\(filter.provider)::text IS NULL OR provider = \(filter.provider))
              AND (\(filter.role?.rawValue)::text IS NULL OR role = \(filter.role?.rawValue))
              AND (\(filter.status?.rawValue)::text IS NULL OR status = \(filter.status?.rawValue))
              AND (\(filter.providers)::text[] IS NULL OR provider = ANY(\(filter.providers)::text[]))
              AND (\(cursor?.createdAt)::timestamptz IS NULL OR (created_at, id) > (\(cursor?.createdAt)::timestamptz, \(cursor?.id)::text))
            ORDER BY created_at, id
            LIMIT \(limit + 1)
            """)
        var records = try rows.map(Self.record(from:))
        guard records.count > limit else { return (records, nil) }
        records.removeLast()
        return (records, records.last.map { ConnectorCursor(createdAt: $0.createdAt, id: $0.id) })
    }

    /// A change a user asks for; nil fields stay as they are.
    public struct Change: Sendable {
        /// `.some(nil)` clears the role.
        public var role: ConnectorRole??
        public var settingsJSON: String?
        public var enabled: Bool?
        /// The providers whose connectors the caller may touch (a services token's allow-list); nil: any. Taking
        /// an exclusive role from a connector of another provider is refused.
        public var providers: [String]?

        public init(role: ConnectorRole?? = nil, settingsJSON: String? = nil, enabled: Bool? = nil, providers: [String]? = nil) {
            self.role = role
            self.settingsJSON = settingsJSON
            self.enabled = enabled
            self.providers = providers
        }
    }

    /// Applies `change` to a user's connector. Disabling remembers the status it had, and enabling restores it: a
    /// connector that was pending, failed or needed a new grant does not come back as connected. Taking an exclusive role (`primary_data_source`) takes it from the
    /// other connectors of the same workspace, in the same transaction. Nil when the user has no such connector.
    public func update(userID: String, reference: String, change: Change) async throws -> ConnectorRecord? {
        try await pool.withTransaction { connection in
            let found = try await connection.query(
                """
                SELECT id, workspace_id FROM connector_tokens
                WHERE user_id = \(userID) AND (id = \(reference) OR provider = \(reference)) FOR UPDATE
                """)
            guard let row = found.first else { return nil }
            let (id, workspaceID) = try row.decode((String, String?).self)
            if case let role?? = change.role, role.isExclusive {
                if let providers = change.providers {
                    let others = try await connection.query(
                        """
                        SELECT 1 FROM connector_tokens
                        WHERE user_id = \(userID) AND workspace_id IS NOT DISTINCT FROM \(workspaceID) AND role = \(role.rawValue)
                          AND id <> \(id) AND provider <> ALL(\(providers)::text[])
                        LIMIT 1
                        """)
                    guard others.isEmpty else {
                        throw ConnectorError(
                            .forbidden, message: "another provider's connector holds \(role.rawValue), which this caller may not change")
                    }
                }
                let cleared = try await connection.query(
                    """
                    UPDATE connector_tokens SET role = NULL, version = version + 1, updated_at = now()
                    WHERE user_id = \(userID) AND workspace_id IS NOT DISTINCT FROM \(workspaceID) AND role = \(role.rawValue) AND id <> \(id)
                    RETURNING id
                    """)
                for other in cleared { try await Self.announce(id: try other.decode(String.self, at: 0), on: connection) }
            }
            let setsRole = change.role != nil
            let rows = try await connection.query(
                """
                UPDATE connector_tokens SET
                    role = CASE WHEN \(setsRole) THEN \(change.role??.rawValue)::text ELSE role END,
                    settings = COALESCE(\(change.settingsJSON)::jsonb, settings),
                    status = CASE
                        WHEN \(change.enabled) = false THEN 'disabled'
                        WHEN \(change.enabled) = true AND status = 'disabled'
                            THEN COALESCE(status_before_disabled, CASE WHEN access_token IS NULL THEN 'failed' ELSE 'connected' END)
                        ELSE status END,
                    status_before_disabled = CASE
                        WHEN \(change.enabled) = false AND status <> 'disabled' THEN status
                        WHEN \(change.enabled) = true AND status = 'disabled' THEN NULL
                        ELSE status_before_disabled END,
                    version = version + 1, updated_at = now()
                WHERE id = \(id)
                RETURNING \(unsafe: Self.recordColumns)
                """)
            try await Self.announce(id: id, on: connection)
            return try Self.record(from: rows[0])
        }
    }

    /// Records what the provider's cheap read said.
    public func recordCheck(id: String, healthy: Bool, at time: Date) async throws {
        _ = try await pool.query(
            "UPDATE connector_tokens SET health = \(healthy ? "ok" : "failing"), last_checked_at = \(time) WHERE id = \(id)")
    }

    /// The opened access and refresh tokens of a connector.
    public func secrets(of id: String) async throws -> ConnectorSecrets {
        let rows = try await pool.query("SELECT access_token, refresh_token FROM connector_tokens WHERE id = \(id)")
        guard let row = rows.first else { return ConnectorSecrets() }
        let (access, refresh) = try row.decode(([UInt8]?, [UInt8]?).self)
        return ConnectorSecrets(
            accessToken: try access.map { try cipher.open($0, id: id, column: .accessToken) },
            refreshToken: try refresh.map { try cipher.open($0, id: id, column: .refreshToken) })
    }

    /// The id of `userID`'s connector for `provider`, creating it as `pending` (no credential yet) when there is
    /// none: an OAuth grant in flight has a connector the client can poll. An existing connector keeps serving
    /// its credential until the grant replaces it.
    public func reservePending(userID: String, workspaceID: String?, provider: String) async throws -> String {
        let newID = try Identifiers.make(prefix: "ct_")
        let rows = try await pool.query(
            """
            WITH inserted AS (
                INSERT INTO connector_tokens (id, user_id, workspace_id, provider, type, status)
                VALUES (\(newID), \(userID), \(workspaceID), \(provider), 'oauth', 'pending')
                ON CONFLICT (user_id, provider) DO NOTHING
                RETURNING id
            )
            SELECT id FROM inserted
            UNION ALL SELECT id FROM connector_tokens WHERE user_id = \(userID) AND provider = \(provider)
            LIMIT 1
            """)
        return try rows[0].decode(String.self, at: 0)
    }

    /// Marks a connector that never got a credential (`pending`) as `failed`, with the reason.
    public func failPending(id: String, reason: String) async throws {
        _ = try await pool.query(
            """
            UPDATE connector_tokens SET status = 'failed', last_refresh_error = \(reason), version = version + 1, updated_at = now()
            WHERE id = \(id) AND status IN ('pending', 'failed')
            """)
    }

    /// Counts of connectors by status, for the metrics.
    public func countByStatus() async throws -> [ConnectorStatus: Int] {
        let rows = try await pool.query("SELECT status, count(*)::bigint FROM connector_tokens GROUP BY status")
        var result: [ConnectorStatus: Int] = [:]
        for row in rows {
            let (status, count) = try row.decode((String, Int64).self)
            if let status = ConnectorStatus(rawValue: status) { result[status] = Int(count) }
        }
        return result
    }
}

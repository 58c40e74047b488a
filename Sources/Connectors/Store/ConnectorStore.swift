public import Foundation
public import PGClient

/// Connectors in PostgreSQL, their secrets sealed by ``CredentialCipher`` before they leave the process and
/// opened only on the resolve path. Every change is announced on ``changeChannel`` (NOTIFY, delivered at
/// commit) so that caches on every replica drop what they hold.
public final class ConnectorStore: Sendable {
    /// The NOTIFY channel; the payload is `{"id": …, "user_id": …, "provider": …}`.
    public static let changeChannel = "resolverd_connector_changed"

    public let pool: PGConnectionPool
    public let cipher: CredentialCipher
    /// The resolve path's reads by user and provider, gathered into one query each while the database is busy.
    private let lookups: LookupBatcher<Lookup, PGRow>

    /// A resolve read's key: the cache's, which compares by UTF-8 bytes as PostgreSQL does.
    typealias Lookup = ResolveCache.Key

    /// Resolve reads run on at most a quarter of the pool's connections at once (at least one): under load they
    /// go out in batches, and the other connections stay free for writes, the audit and refreshes.
    public static func lookupSlots(poolSize: Int) -> Int { max(1, poolSize / 4) }
    /// The most keys one resolve read asks for.
    static let lookupBatchLimit = 64

    /// `observeReads` hears the number of connectors each resolve read asked for (for metrics).
    public init(pool: PGConnectionPool, cipher: CredentialCipher, observeReads: (@Sendable (Int) -> Void)? = nil) {
        self.pool = pool
        self.cipher = cipher
        self.lookups = LookupBatcher(
            maxInFlight: Self.lookupSlots(poolSize: pool.configuration.maxConnections), maxBatch: Self.lookupBatchLimit
        ) { [pool] keys in
            observeReads?(keys.count)
            return try await Self.rows(for: keys, from: pool)
        }
    }

    static let recordColumns: StaticString = """
        id, user_id, workspace_id, provider, type, status, expires_at, scopes, metadata::text, version, created_at, updated_at, \
        role, settings::text, health, last_checked_at, last_refresh_error
        """
    /// The number of columns in ``recordColumns``: queries that select more read them after these.
    static let recordColumnCount = 17

    static func record(from row: PGRow) throws -> ConnectorRecord {
        let (id, userID, workspaceID, provider, type, status, expiresAt, scopes, metadata, version, createdAt, updatedAt) =
            try row.decode((String, String, String?, String, String, String, Date?, [String], String, Int64, Date, Date).self)
        return ConnectorRecord(
            id: id, userID: userID, workspaceID: workspaceID, provider: provider,
            type: ConnectorType(rawValue: type) ?? .apiKey, status: ConnectorStatus(rawValue: status) ?? .failed,
            expiresAt: expiresAt, scopes: scopes, metadataJSON: metadata,
            role: try row.decode(String?.self, at: 12).flatMap(ConnectorRole.init(rawValue:)),
            settingsJSON: try row.decode(String.self, at: 13),
            health: ConnectorHealth(rawValue: try row.decode(String.self, at: 14)) ?? .unknown,
            lastCheckedAt: try row.decode(Date?.self, at: 15),
            lastError: try row.decode(String?.self, at: 16),
            version: version, createdAt: createdAt, updatedAt: updatedAt)
    }

    /// Stores the credential of `userID` for `provider`, replacing any earlier one atomically.
    @discardableResult
    public func put(
        userID: String, workspaceID: String? = nil, provider: String, credential: Credential, metadataJSON: String = "{}",
        settingsJSON: String? = nil, role: ConnectorRole? = nil, checkedAt: Date? = nil, nextRefreshAt: Date? = nil
    ) async throws -> ConnectorRecord {
        let newID = try Identifiers.make(prefix: "ct_")
        return try await pool.withTransaction { connection in
            // Take (or create) the row first: the ciphertext is bound to the row id, which must be final.
            let reserved = try await connection.query(
                """
                INSERT INTO connector_tokens (id, user_id, provider, type) VALUES (\(newID), \(userID), \(provider), \(credential.type.rawValue))
                ON CONFLICT (user_id, provider) DO UPDATE SET updated_at = now()
                RETURNING id
                """)
            let id = try reserved[0].decode(String.self, at: 0)
            let access = try cipher.seal(credential.accessToken, id: id, column: .accessToken)
            let refresh = try credential.refreshToken.map { try cipher.seal($0, id: id, column: .refreshToken) }
            let rows = try await connection.query(
                """
                UPDATE connector_tokens SET
                    workspace_id = \(workspaceID), type = \(credential.type.rawValue), status = 'connected',
                    access_token = \(access), refresh_token = \(refresh), expires_at = \(credential.expiresAt),
                    scopes = \(credential.scopes), metadata = \(metadataJSON)::jsonb,
                    settings = COALESCE(\(settingsJSON)::jsonb, settings), role = COALESCE(\(role?.rawValue)::text, role),
                    health = CASE WHEN \(checkedAt)::timestamptz IS NULL THEN health ELSE 'ok' END,
                    last_checked_at = COALESCE(\(checkedAt)::timestamptz, last_checked_at),
                    refresh_failures = 0, last_refresh_error = NULL, lease_owner = NULL, lease_expires_at = NULL, lease_token = NULL,
                    status_before_disabled = NULL,
                    next_refresh_at = \(nextRefreshAt),
                    version = version + 1, updated_at = now()
                WHERE id = \(id)
                RETURNING \(unsafe: Self.recordColumns)
                """)
            try await Self.announce(id: id, on: connection)
            return try Self.record(from: rows[0])
        }
    }

    /// The connector of `userID` for `provider` with its access token opened; nil when there is none.
    /// A row whose user or provider differs in its bytes from the ones asked for is never answered.
    public func resolve(userID: String, provider: String) async throws -> ResolvedConnector? {
        let key = Lookup(userID: userID, provider: provider)
        guard let row = try await lookups.value(for: key) else { return nil }
        let record = try Self.record(from: row)
        guard key.matches(userID: record.userID, provider: record.provider) else { return nil }
        return try resolved(from: row, record: record)
    }

    /// The rows of the connectors with these keys (distinct), by key: one statement, whatever the number of keys.
    /// A key with a NUL (which no stored text can hold) is not found, and never fails the read for the others.
    static func rows(for wanted: [Lookup], from pool: PGConnectionPool) async throws -> [Lookup: PGRow] {
        let keys = wanted.filter { !$0.userID.utf8.contains(0) && !$0.provider.utf8.contains(0) }
        let rows: PGRows
        if keys.isEmpty {
            return [:]
        } else if keys.count == 1 {
            rows = try await pool.query(
                "SELECT \(unsafe: recordColumns), access_token FROM connector_tokens WHERE user_id = \(keys[0].userID) AND provider = \(keys[0].provider)"
            )
        } else {
            rows = try await pool.query(
                """
                SELECT \(unsafe: recordColumns), access_token FROM connector_tokens
                JOIN unnest(\(keys.map(\.userID))::text[], \(keys.map(\.provider))::text[]) AS wanted (user_id, provider)
                USING (user_id, provider)
                """)
        }
        var found: [Lookup: PGRow] = [:]
        found.reserveCapacity(rows.count)
        for row in rows {
            // Columns 1 and 3 of recordColumns: user_id and provider.
            found[Lookup(userID: try row.decode(String.self, at: 1), provider: try row.decode(String.self, at: 3))] = row
        }
        return found
    }

    /// The connector of `row`, its access token opened; `record` when the row's record is decoded already.
    private func resolved(from row: PGRow, record: ConnectorRecord? = nil) throws -> ResolvedConnector {
        let record = try record ?? Self.record(from: row)
        guard let ciphertext = try row.decode([UInt8]?.self, at: Self.recordColumnCount) else {
            return ResolvedConnector(record: record, accessToken: "", tokenType: "Bearer")
        }
        return ResolvedConnector(record: record, accessToken: try cipher.open(ciphertext, id: record.id, column: .accessToken), tokenType: "Bearer")
    }

    /// The connector with this id, its access token opened; nil when there is none.
    public func resolve(id: String) async throws -> ResolvedConnector? {
        let rows = try await pool.query("SELECT \(unsafe: Self.recordColumns), access_token FROM connector_tokens WHERE id = \(id)")
        return try rows.first.map { try resolved(from: $0) }
    }

    /// A user's connectors (or everyone's), oldest first, without secrets.
    public func list(userID: String?) async throws -> [ConnectorRecord] {
        let rows = try await pool.query(
            """
            SELECT \(unsafe: Self.recordColumns) FROM connector_tokens
            WHERE \(userID)::text IS NULL OR user_id = \(userID) ORDER BY created_at, id
            """)
        return try rows.map(Self.record(from:))
    }

    /// Deletes the connector `reference` (its id, or its provider) of `userID`; true when one was deleted.
    @discardableResult
    public func delete(userID: String, reference: String) async throws -> Bool {
        try await pool.withTransaction { connection in
            let rows = try await connection.query(
                "DELETE FROM connector_tokens WHERE user_id = \(userID) AND (id = \(reference) OR provider = \(reference)) RETURNING id, user_id, provider"
            )
            guard let row = rows.first else { return false }
            let (id, user, provider) = try row.decode((String, String, String).self)
            try await Self.announce(id: id, userID: user, provider: provider, on: connection)
            return true
        }
    }

    /// NOTIFY about the row `id` as it is now (inside the caller's transaction).
    static func announce(id: String, on connection: PGConnection) async throws {
        _ = try await connection.query(
            """
            SELECT pg_notify(\(changeChannel), json_build_object('id', id, 'user_id', user_id, 'provider', provider)::text)
            FROM connector_tokens WHERE id = \(id)
            """)
    }

    /// NOTIFY about a row that no longer exists.
    static func announce(id: String, userID: String, provider: String, on connection: PGConnection) async throws {
        _ = try await connection.query(
            "SELECT pg_notify(\(changeChannel), json_build_object('id', \(id)::text, 'user_id', \(userID)::text, 'provider', \(provider)::text)::text)"
        )
    }
}

public import Foundation
public import PGClient
import ResolverCrypto

/// User API keys (`tnx_…`): made by `resolverd apikey create`, shown once, kept as their SHA-256.
public struct APIKeyStore: Sendable {
    public static let prefix = "tnx_"
    let pool: PGConnectionPool

    public init(pool: PGConnectionPool) { self.pool = pool }

    public struct Key: Sendable {
        public var id: String
        public var userID: String
        public var workspaceID: String?
        public var name: String
        public var prefix: String
        public var createdAt: Date
        public var lastUsedAt: Date?
        public var revokedAt: Date?
    }

    /// A new key for `userID`: its record and the key itself, which is not stored and cannot be shown again.
    public func create(userID: String, workspaceID: String?, name: String) async throws -> (Key, secret: String) {
        let id = try Identifiers.make(prefix: "ak_")
        let secret = Self.prefix + Base64URL.encode(try SecureRandom.bytes(count: 32))
        let shown = String(secret.prefix(12))
        let rows = try await pool.query(
            """
            INSERT INTO api_keys (id, user_id, workspace_id, name, key_hash, prefix)
            VALUES (\(id), \(userID), \(workspaceID), \(name), \(SHA256.hash(Array(secret.utf8))), \(shown))
            RETURNING \(unsafe: Self.columns)
            """)
        return (try Self.key(rows[0]), secret)
    }

    /// The live (unrevoked) key whose text this is.
    public func authenticate(_ presented: some StringProtocol) async throws -> Key? {
        guard presented.hasPrefix(Self.prefix), presented.utf8.count <= 128 else { return nil }
        let rows = try await pool.query(
            "SELECT \(unsafe: Self.columns) FROM api_keys WHERE key_hash = \(SHA256.hash(Array(presented.utf8))) AND revoked_at IS NULL")
        guard let key = try rows.first.map(Self.key) else { return nil }
        // At most one write a minute per key, off the answer's path.
        if key.lastUsedAt.map({ Date().timeIntervalSince($0) > 60 }) ?? true {
            Task { [pool] in _ = try? await pool.query("UPDATE api_keys SET last_used_at = now() WHERE id = \(key.id)") }
        }
        return key
    }

    public func list(userID: String?) async throws -> [Key] {
        let rows = try await pool.query(
            "SELECT \(unsafe: Self.columns) FROM api_keys WHERE \(userID)::text IS NULL OR user_id = \(userID) ORDER BY created_at, id")
        return try rows.map(Self.key)
    }

    /// Revokes a key by id; false when there is no live key with that id.
    public func revoke(id: String) async throws -> Bool {
        let rows = try await pool.query("UPDATE api_keys SET revoked_at = now() WHERE id = \(id) AND revoked_at IS NULL RETURNING id")
        return !rows.isEmpty
    }

    private static let columns: StaticString = "id, user_id, workspace_id, name, prefix, created_at, last_used_at, revoked_at"

    private static func key(_ row: PGRow) throws -> Key {
        let (id, userID, workspaceID, name, prefix, createdAt, lastUsedAt, revokedAt) =
            try row.decode((String, String, String?, String, String, Date, Date?, Date?).self)
        return Key(
            id: id, userID: userID, workspaceID: workspaceID, name: name, prefix: prefix, createdAt: createdAt, lastUsedAt: lastUsedAt,
            revokedAt: revokedAt)
    }
}

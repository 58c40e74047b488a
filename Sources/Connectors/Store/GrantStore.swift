public import Foundation
public import PGClient
import ResolverCrypto
public import Timekeeping

/// An OAuth grant in flight: started by `authorize`, finished by the provider's callback.
public struct Grant: Sendable {
    public var id: String
    public var userID: String
    public var workspaceID: String?
    public var provider: String
    public var connectorID: String
    public var redirectURI: String?
    public var scopes: [String]
    public var settingsJSON: String
    public var codeVerifier: String?
    public var status: String
    public var error: String?
    public var expiresAt: Date
    public var createdAt: Date
}

/// Grants in `connector_grants`. The `state` handed to the provider is random and stored only as its SHA-256;
/// the PKCE verifier is sealed like any other secret. A state is claimed once, atomically, whatever happens next.
public struct GrantStore: Sendable {
    public static let lifetime: TimeInterval = 600
    public let pool: PGConnectionPool
    public let cipher: CredentialCipher
    /// What grants' and confirmations' lifetimes run by.
    public let time: any TimeSource

    public init(pool: PGConnectionPool, cipher: CredentialCipher, time: any TimeSource = SystemTime()) {
        self.pool = pool
        self.cipher = cipher
        self.time = time
    }

    /// A new grant's single-use state and its PKCE verifier (nil when the provider does not use PKCE).
    public struct Started: Sendable {
        public var grantID: String
        public var state: String
        public var codeVerifier: String?
        public var expiresAt: Date
    }

    public func start(
        userID: String, workspaceID: String?, provider: String, connectorID: String, redirectURI: String?, scopes: [String],
        settingsJSON: String, usesPKCE: Bool
    ) async throws -> Started {
        let now = time.now
        let id = try Identifiers.make(prefix: "gr_")
        let state = Base64URL.encode(try SecureRandom.bytes(count: 32))
        let verifier = usesPKCE ? Base64URL.encode(try SecureRandom.bytes(count: 48)) : nil
        let sealed = try verifier.map { try cipher.seal($0, table: "connector_grants", id: id, column: .codeVerifier) }
        let expiresAt = now.addingTimeInterval(Self.lifetime)
        _ = try await pool.query(
            """
            INSERT INTO connector_grants (id, state_hash, user_id, workspace_id, provider, connector_id, redirect_uri, scopes, code_verifier, settings, expires_at)
            VALUES (\(id), \(SHA256.hash(Array(state.utf8))), \(userID), \(workspaceID), \(provider), \(connectorID), \(redirectURI),
                    \(scopes), \(sealed), \(settingsJSON)::jsonb, \(expiresAt))
            """)
        return Started(grantID: id, state: state, codeVerifier: verifier, expiresAt: expiresAt)
    }

    /// Why a state cannot be used.
    public enum ClaimFailure: Error, Sendable, Equatable {
        case unknown, used, expired
        case otherProvider
    }

    /// Claims the grant of `state` for `provider`, once: a second claim of the same state fails as `used`, even
    /// when the first one is still running. A claimed grant that is expired or for another provider is marked failed.
    public func claim(state: String, provider: String) async throws -> Result<Grant, ClaimFailure> {
        let now = time.now
        let hash = SHA256.hash(Array(state.utf8))
        let rows = try await pool.query(
            """
            UPDATE connector_grants SET completed_at = now()
            WHERE state_hash = \(hash) AND completed_at IS NULL AND status = 'pending'
            RETURNING id, user_id, workspace_id, provider, connector_id, redirect_uri, scopes, settings::text, code_verifier,
                      status, error, expires_at, created_at
            """)
        guard let row = rows.first else {
            let exists = try await pool.query("SELECT 1 FROM connector_grants WHERE state_hash = \(hash)")
            return .failure(exists.isEmpty ? .unknown : .used)
        }
        let (id, userID, workspaceID, grantProvider, connectorID, redirectURI, scopes, settings, sealed) =
            try row.decode((String, String, String?, String, String, String?, [String], String, [UInt8]?).self)
        let (status, error, expiresAt, createdAt) = try row.decode((String, String?, Date, Date).self, startingAt: 9)
        let grant = Grant(
            id: id, userID: userID, workspaceID: workspaceID, provider: grantProvider, connectorID: connectorID, redirectURI: redirectURI,
            scopes: scopes, settingsJSON: settings,
            codeVerifier: try sealed.map { try cipher.open($0, table: "connector_grants", id: id, column: .codeVerifier) },
            status: status, error: error, expiresAt: expiresAt, createdAt: createdAt)
        if grant.provider != provider {
            try await finish(grant.id, connected: false, error: "the state was issued for another provider")
            return .failure(.otherProvider)
        }
        if grant.expiresAt <= now {
            try await finish(grant.id, connected: false, error: "the authorization expired", status: "expired")
            return .failure(.expired)
        }
        return .success(grant)
    }

    /// Records how a claimed grant ended.
    public func finish(_ id: String, connected: Bool, error: String?, status: String? = nil) async throws {
        _ = try await pool.query(
            "UPDATE connector_grants SET status = \(status ?? (connected ? "connected" : "failed")), error = \(error) WHERE id = \(id)")
    }

    /// The newest grant for a connector: status, error, expiry (of its state, or of its confirmation once the
    /// callback holds its tokens) and start; nil when there is none.
    public func latest(connectorID: String) async throws -> (status: String, error: String?, expiresAt: Date, createdAt: Date)? {
        let rows = try await pool.query(
            """
            SELECT status, error, COALESCE(confirm_expires_at, expires_at), created_at FROM connector_grants
            WHERE connector_id = \(connectorID) ORDER BY created_at DESC LIMIT 1
            """)
        return try rows.first.map { try $0.decode((String, String?, Date, Date).self) }
    }
}

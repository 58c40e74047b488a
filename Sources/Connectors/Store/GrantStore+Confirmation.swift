public import Foundation
import Timekeeping
import PGClient
import ResolverCrypto

/// What a callback obtained for a grant that must be confirmed: the credential, the account's metadata and the
/// connector's settings, held sealed in the grant's row.
public struct HeldGrant: Sendable {
    public var credential: Credential
    public var metadataJSON: String
    public var settingsJSON: String

    public init(credential: Credential, metadataJSON: String, settingsJSON: String) {
        self.credential = credential
        self.metadataJSON = metadataJSON
        self.settingsJSON = settingsJSON
    }

    /// True when the provider's account read answered (the metadata holds the account's name).
    public var accountChecked: Bool { (try? JSONValue.parse(Array(metadataJSON.utf8)))?.object?["account_name"] != nil }
}

/// How a confirmation ended.
public enum GrantConfirmation: Sendable {
    /// The user who started the grant confirmed it in time: store these tokens.
    case confirmed(Grant, HeldGrant)
    /// The code was another user's grant, or came too late: the tokens were discarded here and must be revoked at
    /// the provider.
    case discarded(Grant, HeldGrant)
    /// No grant waits for this code (unknown, already decided, or for another provider).
    case unknown
}

/// Login CSRF: a callback is authenticated by its state alone, so an attacker could send their own authorize URL to
/// a victim and have the victim's account stored under the attacker's user. With confirmation on, the callback only
/// holds the tokens and hands the web app a one-time code; the web app, signed in as the same user, confirms.
extension GrantStore {
    /// How long held tokens wait for their confirmation.
    public static let confirmationLifetime: TimeInterval = 600

    /// Holds `held` in the claimed grant `grantID` and returns the one-time confirmation code.
    public func hold(_ grantID: String, _ held: HeldGrant) async throws -> (code: String, expiresAt: Date) {
        let now = time.now
        let code = Base64URL.encode(try SecureRandom.bytes(count: 32))
        let access = try cipher.seal(held.credential.accessToken, table: "connector_grants", id: grantID, column: .accessToken)
        let refresh = try held.credential.refreshToken.map { try cipher.seal($0, table: "connector_grants", id: grantID, column: .refreshToken) }
        let expiresAt = now.addingTimeInterval(Self.confirmationLifetime)
        _ = try await pool.query(
            """
            UPDATE connector_grants SET status = 'pending_confirmation', confirm_code_hash = \(SHA256.hash(Array(code.utf8))),
                confirm_expires_at = \(expiresAt), access_token = \(access), refresh_token = \(refresh),
                token_expires_at = \(held.credential.expiresAt), granted_scopes = \(held.credential.scopes),
                metadata = \(held.metadataJSON)::jsonb, settings = \(held.settingsJSON)::jsonb
            WHERE id = \(grantID)
            """)
        return (code, expiresAt)
    }

    /// Decides the grant held under `code`, once: confirmed when `userID` started it for `provider` and it has not
    /// expired, discarded otherwise. Either way the held tokens leave the database in the same statement.
    public func confirm(code: String, provider: String, userID: String) async throws -> GrantConfirmation {
        let now = time.now
        let rows = try await pool.query(
            """
            WITH held AS (
                SELECT * FROM connector_grants
                WHERE confirm_code_hash = \(SHA256.hash(Array(code.utf8))) AND status = 'pending_confirmation' AND provider = \(provider)
                FOR UPDATE
            )
            UPDATE connector_grants g SET
                status = CASE WHEN held.user_id = \(userID) AND held.confirm_expires_at > \(now) THEN 'connected' ELSE 'failed' END,
                error = CASE WHEN held.user_id = \(userID) AND held.confirm_expires_at > \(now) THEN NULL
                             WHEN held.user_id = \(userID) THEN 'the confirmation came too late'
                             ELSE 'confirmed by another user' END,
                confirm_code_hash = NULL, access_token = NULL, refresh_token = NULL
            FROM held WHERE g.id = held.id
            RETURNING \(unsafe: Self.heldColumns), g.status
            """)
        guard let row = rows.first else { return .unknown }
        let (grant, held) = try heldGrant(from: row)
        return try row.decode(String.self, at: Self.heldColumnCount) == "connected" ? .confirmed(grant, held) : .discarded(grant, held)
    }

    /// Takes held grants whose confirmation never came (at most `limit`): marked expired, their tokens returned
    /// to be revoked.
    public func takeUnconfirmed(limit: Int = 100) async throws -> [(Grant, HeldGrant)] {
        let now = time.now
        let rows = try await pool.query(
            """
            WITH held AS (
                SELECT * FROM connector_grants
                WHERE status = 'pending_confirmation' AND confirm_expires_at <= \(now)
                ORDER BY confirm_expires_at LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            )
            UPDATE connector_grants g SET status = 'expired', error = 'the grant was not confirmed in time',
                confirm_code_hash = NULL, access_token = NULL, refresh_token = NULL
            FROM held WHERE g.id = held.id
            RETURNING \(unsafe: Self.heldColumns)
            """)
        return try rows.map(heldGrant(from:))
    }

    /// Deletes grants decided (or expired) more than `age` ago; their outcome no longer shows on the connector.
    @discardableResult
    public func deleteFinished(olderThan age: TimeInterval) async throws -> Int {
        let now = time.now
        let cutoff = now.addingTimeInterval(-age)
        let rows = try await pool.query(
            """
            DELETE FROM connector_grants
            WHERE created_at < \(cutoff) AND status <> 'pending_confirmation' AND (status <> 'pending' OR expires_at < \(cutoff))
            RETURNING id
            """)
        return rows.count
    }

    private static let heldColumns: StaticString = """
        held.id, held.user_id, held.workspace_id, held.provider, held.connector_id, held.redirect_uri, held.scopes, held.settings::text, \
        held.expires_at, held.created_at, held.access_token, held.refresh_token, held.token_expires_at, held.granted_scopes, held.metadata::text
        """
    private static let heldColumnCount = 15

    private func heldGrant(from row: PGRow) throws -> (Grant, HeldGrant) {
        let (id, userID, workspaceID, provider, connectorID, redirectURI, scopes, settings, expiresAt, createdAt) =
            try row.decode((String, String, String?, String, String, String?, [String], String, Date, Date).self)
        let (access, refresh, tokenExpiresAt, grantedScopes, metadata) =
            try row.decode(([UInt8]?, [UInt8]?, Date?, [String]?, String?).self, startingAt: 10)
        guard let access else { throw ConnectorError(.corruptCredential, message: "the held grant \(id) has no access token") }
        let grant = Grant(
            id: id, userID: userID, workspaceID: workspaceID, provider: provider, connectorID: connectorID, redirectURI: redirectURI,
            scopes: scopes, settingsJSON: settings, codeVerifier: nil, status: "pending_confirmation", error: nil, expiresAt: expiresAt,
            createdAt: createdAt)
        let credential = Credential(
            type: .oauth, accessToken: try cipher.open(access, table: "connector_grants", id: id, column: .accessToken),
            refreshToken: try refresh.map { try cipher.open($0, table: "connector_grants", id: id, column: .refreshToken) },
            expiresAt: tokenExpiresAt, scopes: grantedScopes ?? scopes)
        return (grant, HeldGrant(credential: credential, metadataJSON: metadata ?? "{}", settingsJSON: settings))
    }
}

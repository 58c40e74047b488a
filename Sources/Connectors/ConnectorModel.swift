public import Foundation

/// How a connector's credential was granted.
public enum ConnectorType: String, Sendable, Codable, CaseIterable {
    case oauth
    case apiKey = "api_key"
}

/// Where a connector stands.
public enum ConnectorStatus: String, Sendable, Codable, CaseIterable {
    case pending
    case connected
    case failed
    /// Refresh failed for good; the user must connect again.
    case needsReauth = "needs_reauth"
    case disabled
}

/// What the last cheap read at the provider said.
public enum ConnectorHealth: String, Sendable, Codable, CaseIterable {
    case unknown, ok, failing
}

/// A connector as stored, without its secrets.
public struct ConnectorRecord: Sendable, Equatable {
    public var id: String
    public var userID: String
    public var workspaceID: String?
    public var provider: String
    public var type: ConnectorType
    public var status: ConnectorStatus
    public var expiresAt: Date?
    public var scopes: [String]
    /// Provider facts such as the account name, as a JSON object's text.
    public var metadataJSON: String
    public var role: ConnectorRole?
    /// The user's per-connector settings, as a JSON object's text.
    public var settingsJSON: String
    public var health: ConnectorHealth
    public var lastCheckedAt: Date?
    /// Why the connector failed or needs to be connected again; never a secret.
    public var lastError: String?
    public var version: Int64
    public var createdAt: Date
    public var updatedAt: Date
}

/// A connector with its access token opened: what the resolver hands out.
public struct ResolvedConnector: Sendable {
    public var record: ConnectorRecord
    public var accessToken: String
    public var tokenType: String
}

/// A credential to store: an API key, or OAuth tokens.
public struct Credential: Sendable {
    public var type: ConnectorType
    public var accessToken: String
    public var refreshToken: String?
    public var expiresAt: Date?
    public var scopes: [String]

    public init(type: ConnectorType, accessToken: String, refreshToken: String? = nil, expiresAt: Date? = nil, scopes: [String] = []) {
        self.type = type
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.expiresAt = expiresAt
        self.scopes = scopes
    }
}

import Connectors
import Foundation

/// A connector as the connectors API shows it: DESIGN.md's list item, never a secret.
struct ConnectionView: Encodable {
    var id: String
    var provider: String
    var type: ConnectorType
    var status: ConnectorStatus
    /// The account name at the provider.
    @Nullable var account: String?
    @Nullable var role: ConnectorRole?
    var health: ConnectorHealth
    @Nullable var lastCheckedAt: Date?
    @Nullable var expiresAt: Date?
    var scopes: [String]
    var settings: JSONValue
    @Nullable var workspaceID: String?
    /// Why the grant failed, or why re-authorization is needed.
    @Nullable var error: String?
    var createdAt: Date
    var updatedAt: Date

    init(record: ConnectorRecord) {
        id = record.id
        provider = record.provider
        type = record.type
        status = record.status
        account = (try? JSONValue.parse(Array(record.metadataJSON.utf8)))?.object?["account_name"]?.text
        role = record.role
        health = record.health
        lastCheckedAt = record.lastCheckedAt
        expiresAt = record.expiresAt
        scopes = record.scopes
        settings = (try? JSONValue.parse(Array(record.settingsJSON.utf8))) ?? .object([:])
        workspaceID = record.workspaceID
        error = record.lastError
        createdAt = record.createdAt
        updatedAt = record.updatedAt
    }
}

/// A provider as `GET /api/connectors/providers` shows it.
struct ProviderView: Encodable {
    var slug: String
    var name: String
    var type: ConnectorType
    var roles: [ConnectorRole]
    var scopes: [String]
    var settings: [Setting]
    var capabilities: Capabilities

    struct Setting: Encodable {
        var name: String
        var description: String
        var required: Bool
        @Nullable var `default`: String?
    }

    struct Capabilities: Encodable {
        var refresh: Bool
        var revoke: Bool
        var test: Bool
        var pkce: Bool
    }

    init(provider: ProviderDefinition) {
        slug = provider.slug
        name = provider.name
        type = provider.type
        roles = provider.roles
        scopes = provider.oauth?.scopes ?? []
        settings = provider.settings.map { Setting(name: $0.name, description: $0.description, required: $0.required, default: $0.default) }
        capabilities = Capabilities(
            refresh: provider.canRefresh, revoke: provider.revoke != nil, test: true, pkce: (provider.oauth?.pkce ?? .none) != .none)
    }
}

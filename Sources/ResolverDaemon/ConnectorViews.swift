import Connectors
import Foundation

/// A connector as the connectors API shows it: DESIGN.md's list item, never a secret.
struct ConnectionView: Encodable {
    var record: ConnectorRecord
    /// Overrides while a grant for this connector is in flight or has just failed.
    var status: ConnectorStatus?
    var error: String?

    enum CodingKeys: String, CodingKey {
        case id, provider, type, status, account, role, health, lastCheckedAt = "last_checked_at", expiresAt = "expires_at"
        case scopes, settings, workspaceID = "workspace_id", error, createdAt = "created_at", updatedAt = "updated_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        let metadata = (try? JSONValue.parse(Array(record.metadataJSON.utf8)))?.object ?? [:]
        try container.encode(record.id, forKey: .id)
        try container.encode(record.provider, forKey: .provider)
        try container.encode(record.type, forKey: .type)
        try container.encode(status ?? record.status, forKey: .status)
        try container.encode(metadata["account_name"]?.text, forKey: .account)
        try container.encode(record.role, forKey: .role)
        try container.encode(record.health, forKey: .health)
        try container.encode(record.lastCheckedAt, forKey: .lastCheckedAt)
        try container.encode(record.expiresAt, forKey: .expiresAt)
        try container.encode(record.scopes, forKey: .scopes)
        try container.encode((try? JSONValue.parse(Array(record.settingsJSON.utf8))) ?? .object([:]), forKey: .settings)
        try container.encode(record.workspaceID, forKey: .workspaceID)
        try container.encode(error ?? record.lastError, forKey: .error)
        try container.encode(record.createdAt, forKey: .createdAt)
        try container.encode(record.updatedAt, forKey: .updatedAt)
    }
}

/// A provider as `GET /api/connectors/providers` shows it.
struct ProviderView: Encodable {
    var provider: ProviderDefinition

    enum CodingKeys: String, CodingKey { case slug, name, type, roles, scopes, settings, capabilities }

    struct Capabilities: Encodable {
        var refresh: Bool
        var revoke: Bool
        var test: Bool
        var pkce: Bool
    }

    struct Setting: Encodable {
        var name: String
        var description: String
        var required: Bool
        var `default`: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(description, forKey: .description)
            try container.encode(required, forKey: .required)
            try container.encode(self.default, forKey: .default)
        }

        enum CodingKeys: String, CodingKey { case name, description, required, `default` }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(provider.slug, forKey: .slug)
        try container.encode(provider.name, forKey: .name)
        try container.encode(provider.type, forKey: .type)
        try container.encode(provider.roles, forKey: .roles)
        try container.encode(provider.oauth?.scopes ?? [], forKey: .scopes)
        try container.encode(
            provider.settings.map { Setting(name: $0.name, description: $0.description, required: $0.required, default: $0.default) },
            forKey: .settings)
        try container.encode(
            Capabilities(refresh: provider.canRefresh, revoke: provider.revoke != nil, test: true, pkce: (provider.oauth?.pkce ?? .none) != .none),
            forKey: .capabilities)
    }
}

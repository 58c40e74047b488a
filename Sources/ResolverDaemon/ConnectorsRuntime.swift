import Connectors
import FailureLogging
import Foundation
import HTTPTypes
import Logging
import PGClient

/// What the connectors API works with: the merged catalog and client registrations, the provider client, grants
/// in flight, user authentication.
struct ConnectorsRuntime: Sendable {
    var settings: ConnectorsSettings
    var client: ProviderClient
    var grants: GrantStore
    var apiKeys: APIKeyStore
    var authenticator: UserAuthenticator
    var audit: AuditWriter
    var failures: FailureLog

    func provider(_ slug: String) throws -> ProviderDefinition {
        guard let provider = settings.catalog.provider(slug) else {
            throw APIError(.notFound, "unknown_provider", "no provider '\(slug.prefix(64))' in the catalog")
        }
        return provider
    }

    /// The provider's cheap read with a credential that is about to be stored; the account name when the catalog
    /// says where to find it. A refusal is 422 `invalid_credentials`; anything else the provider could not tell is
    /// 502 `provider_unavailable`.
    func check(_ provider: ProviderDefinition, values: TemplateValues, logger: Logger) async throws -> String? {
        do {
            let result = try await client.check(.test, provider: provider, values: values)
            if let name = result.accountName { return name }
            guard provider.account != nil else { return nil }
            // The account name is a nicety: a failing second call does not fail the connect.
            return try? await client.check(.account, provider: provider, values: values).accountName
        } catch ProviderFailure.rejected(_, _, let status) where [400, 401, 403].contains(status) {
            throw APIError(.unprocessableContent, "invalid_credentials", "\(provider.name) did not accept the credential")
        } catch let error as ProviderFailure {
            failures.record(
                FailureLog.Kind(condition: "credential checks failing at \(provider.slug)", counted: "connects answered 502", level: .warning),
                "provider check failed", metadata: ["provider": "\(provider.slug)", "error": "\(error)"])
            throw APIError(.badGateway, "provider_unavailable", "\(provider.name) could not be reached to check the credential")
        }
    }

    /// Revokes a connector's credential at its provider; false when the provider has no revocation, the
    /// credential cannot be read, or the provider did not confirm.
    func revoke(_ record: ConnectorRecord, store: ConnectorStore, logger: Logger) async -> Bool {
        guard let provider = settings.catalog.provider(record.provider), provider.revoke != nil else { return false }
        do {
            let secrets = try await store.secrets(of: record.id)
            let values = settings.registrations.templateValues(
                provider: provider.slug, accessToken: secrets.accessToken, settingsJSON: record.settingsJSON, metadataJSON: record.metadataJSON)
            return try await client.revoke(
                provider: provider, client: settings.registrations.clients[provider.slug], accessToken: secrets.accessToken,
                refreshToken: secrets.refreshToken,
                values: values)
        } catch {
            failures.record(
                FailureLog.Kind(condition: "revocations failing at \(record.provider)", counted: "connectors deleted unrevoked", level: .warning),
                "revocation failed; deleting anyway",
                metadata: ["provider": "\(record.provider)", "connector_id": "\(record.id)", "error": "\(error)"])
            return false
        }
    }

    /// Revokes the tokens of a held grant that will not be stored (discarded or never confirmed).
    func revokeHeld(_ grant: Grant, _ held: HeldGrant, logger: Logger) async {
        guard let provider = settings.catalog.provider(grant.provider) else { return }
        let values = settings.registrations.templateValues(
            provider: provider.slug, accessToken: held.credential.accessToken, settingsJSON: held.settingsJSON, metadataJSON: held.metadataJSON)
        do {
            _ = try await client.revoke(
                provider: provider, client: settings.registrations.clients[provider.slug], accessToken: held.credential.accessToken,
                refreshToken: held.credential.refreshToken, values: values)
        } catch {
            logger.warning("revoking a discarded grant failed", metadata: ["provider": "\(grant.provider)", "error": "\(error)"])
        }
    }

    func audit(_ caller: UserCaller, _ action: String, _ outcome: String, _ record: ConnectorRecord?, provider: String? = nil) {
        audit.record(
            AuditWriter.Event(
                actor: caller.actor, action: action, outcome: outcome, connectorID: record?.id, provider: record?.provider ?? provider,
                userID: caller.userID, at: Date()))
    }
}

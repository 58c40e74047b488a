import Connectors
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import RefreshScheduler
import Timekeeping

/// The connectors API (DESIGN.md, "Connectors API"): list, get, connect an API key, change, test, refresh and
/// disconnect. Every route is scoped to the authenticated user: another user's connector is not found.
struct ConnectorsRoutes: Sendable {
    let runtime: ResolverRuntime
    var connectors: ConnectorsRuntime { runtime.connectors }

    func register(on router: Router<BasicRequestContext>) {
        router.get("/api/connectors/providers") { request, _ in try await providers(request) }
        router.get("/api/connectors/list") { request, _ in try await list(request) }
        router.post("/api/connectors/connect") { request, context in try await connect(request, logger: context.logger) }
        router.get("/api/connectors/:ref") { request, context in try await get(request, ref: try reference(context)) }
        router.patch("/api/connectors/:ref") { request, context in try await patch(request, ref: try reference(context)) }
        router.post("/api/connectors/:ref/refresh") { request, context in try await refresh(request, ref: try reference(context)) }
        router.post("/api/connectors/:ref/test") { request, context in try await test(request, ref: try reference(context)) }
        router.delete("/api/connectors/:ref") { request, context in try await delete(request, ref: try reference(context), logger: context.logger) }
    }

    private func reference(_ context: BasicRequestContext) throws -> String {
        guard let ref = context.parameters.get("ref"), !ref.isEmpty, ref.utf8.count <= 64 else {
            throw APIError.invalidRequest("bad connector reference")
        }
        return ref
    }

    private func providers(_ request: Request) async throws -> Response {
        _ = try await connectors.authenticator.authenticate(request)
        struct Body: Encodable { var providers: [ProviderView] }
        return try HTTPBodies.json(.ok, encoding: Body(providers: connectors.settings.catalog.providers.map { ProviderView(provider: $0) }))
    }

    private func list(_ request: Request) async throws -> Response {
        let caller = try await connectors.authenticator.authenticate(request)
        let query = request.uri.queryParameters
        func parsed<T: RawRepresentable<String>>(_ name: String, as: T.Type) throws -> T? {
            guard let text = query[Substring(name)].map(String.init) else { return nil }
            guard let value = T(rawValue: text) else { throw APIError.invalidRequest("\(name) '\(text)' is not one of the allowed values") }
            return value
        }
        var limit = 50
        if let text = query["limit"] {
            guard let value = Int(text), (1...100).contains(value) else { throw APIError.invalidRequest("limit must be from 1 to 100") }
            limit = value
        }
        var cursor: ConnectorCursor?
        if let text = query["cursor"].map(String.init), !text.isEmpty {
            guard let value = ConnectorCursor(token: text) else { throw APIError.invalidRequest("the cursor is not one this API gave") }
            cursor = value
        }
        let provider = query["provider"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        if let provider { try caller.check(provider: provider) }
        let filter = ConnectorFilter(
            provider: provider, role: try parsed("role", as: ConnectorRole.self), status: try parsed("status", as: ConnectorStatus.self),
            providers: caller.providers.map { $0.sorted() })
        let (records, next) = try await runtime.store.page(userID: caller.userID, filter: filter, after: cursor, limit: limit)
        struct Body: Encodable {
            var connections: [ConnectionView]
            @Nullable var nextCursor: String?
        }
        return try HTTPBodies.json(.ok, encoding: Body(connections: records.map { ConnectionView(record: $0) }, nextCursor: next?.token))
    }

    private func owned(_ caller: UserCaller, _ ref: String) async throws -> ConnectorRecord {
        guard let record = try await runtime.store.find(userID: caller.userID, reference: ref) else {
            throw APIError(.notFound, "not_found", "no such connector")
        }
        try caller.check(provider: record.provider)
        return record
    }

    private func get(_ request: Request, ref: String) async throws -> Response {
        let caller = try await connectors.authenticator.authenticate(request)
        let record = try await owned(caller, ref)
        var view = ConnectionView(record: record)
        // While a grant is in flight (or just failed) for this connector, its status is the grant's.
        if record.type == .oauth, let grant = try await connectors.grants.latest(connectorID: record.id),
            grant.createdAt > record.updatedAt || record.status == .pending
        {
            switch grant.status {
            case "pending" where grant.expiresAt > runtime.time.now, "pending_confirmation" where grant.expiresAt > runtime.time.now:
                view.status = .pending
            case "pending", "pending_confirmation", "expired":
                (view.status, view.error) = (.failed, "the authorization expired before the user finished it")
            case "failed": (view.status, view.error) = (.failed, grant.error ?? view.error)
            default: break
            }
        }
        return try HTTPBodies.json(.ok, encoding: view)
    }

    struct ConnectRequest: Decodable {
        var provider: String
        var apiKey: String
        var settings: [String: JSONValue]?
        var role: ConnectorRole?
        var workspaceID: String?
    }

    private func connect(_ request: Request, logger: Logger) async throws -> Response {
        let caller = try await connectors.authenticator.authenticate(request)
        let body = try ResolveRequest.decode(ConnectRequest.self, from: try await HTTPBodies.collect(request).readableBytesView)
        guard !body.apiKey.isEmpty, body.apiKey.unicodeScalars.count <= 4096, !body.apiKey.contains(where: { $0.isNewline }) else {
            throw APIError.invalidRequest("api_key must be 1-4096 characters on one line")
        }
        let provider = try connectors.provider(body.provider)
        try caller.check(provider: provider.slug)
        guard provider.type == .apiKey else {
            throw APIError(
                .unprocessableContent, "not_api_key_provider", "\(provider.name) connects through OAuth: use /api/oauth/\(provider.slug)/authorize")
        }
        let settings = try provider.validatedSettings(body.settings ?? [:])
        let settingsJSON = JSONValue.object(settings).jsonText()
        let values = connectors.settings.registrations.templateValues(
            provider: provider.slug, accessToken: body.apiKey, settingsJSON: settingsJSON, metadataJSON: "{}")
        let checkedAt = runtime.time.now
        let accountName = try await connectors.check(provider, values: values, logger: logger)
        let metadata = JSONValue.object(accountName.map { ["account_name": .string($0)] } ?? [:]).jsonText()
        var record = try await runtime.store.put(
            userID: caller.userID, workspaceID: try caller.workspace(requested: body.workspaceID), provider: provider.slug,
            credential: Credential(type: .apiKey, accessToken: body.apiKey), metadataJSON: metadata, settingsJSON: settingsJSON, checkedAt: checkedAt)
        if let role = body.role {
            record =
                try await runtime.store.update(
                    userID: caller.userID, reference: record.id, change: .init(role: .some(role), providers: caller.providers.map { $0.sorted() }))
                ?? record
        }
        connectors.audit(caller, "connect", "ok", record)
        return try HTTPBodies.json(.created, encoding: ConnectionView(record: record))
    }

    struct PatchRequest: Decodable {
        var role: ConnectorRole??
        var settings: [String: JSONValue]?
        var enabled: Bool?

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            // An explicit null clears the role; an absent key leaves it.
            if container.contains(.role) { role = .some(try container.decodeIfPresent(ConnectorRole.self, forKey: .role)) }
            settings = try container.decodeIfPresent([String: JSONValue].self, forKey: .settings)
            enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled)
        }
        /// For the hand-written `init(from:)`, which tells an explicit null from an absent key.
        enum CodingKeys: CodingKey { case role, settings, enabled }
    }

    private func patch(_ request: Request, ref: String) async throws -> Response {
        let caller = try await connectors.authenticator.authenticate(request)
        let body = try ResolveRequest.decode(PatchRequest.self, from: try await HTTPBodies.collect(request).readableBytesView)
        guard body.role != nil || body.settings != nil || body.enabled != nil else {
            throw APIError.invalidRequest("give at least one of role, settings, enabled")
        }
        let record = try await owned(caller, ref)
        var settingsJSON: String?
        if let settings = body.settings {
            let provider = try connectors.provider(record.provider)
            // Verified settings (a GitHub installation id) stay as the grant confirmed them.
            let stored = (try? JSONValue.parse(Array(record.settingsJSON.utf8)))?.object ?? [:]
            // Sending a verified value back as it is stored is fine; changing it is refused by the validation.
            var given = settings
            for setting in provider.settings where setting.verified == true && given[setting.name] == stored[setting.name] {
                given[setting.name] = nil
            }
            let checked = try provider.validatedSettings(given)
            settingsJSON = JSONValue.object(provider.keepingVerified(checked, from: stored)).jsonText()
        }
        guard
            let updated = try await runtime.store.update(
                userID: caller.userID, reference: record.id,
                change: .init(role: body.role, settingsJSON: settingsJSON, enabled: body.enabled, providers: caller.providers.map { $0.sorted() }))
        else { throw APIError(.notFound, "not_found", "no such connector") }
        connectors.audit(caller, "update", "ok", updated)
        return try HTTPBodies.json(.ok, encoding: ConnectionView(record: updated))
    }

    private func refresh(_ request: Request, ref: String) async throws -> Response {
        let caller = try await connectors.authenticator.authenticate(request)
        let record = try await owned(caller, ref)
        let provider = try connectors.provider(record.provider)
        guard provider.canRefresh else {
            throw APIError(.conflict, "not_refreshable", "\(provider.name) credentials are not refreshed")
        }
        guard record.status == .connected else {
            if record.status == .needsReauth { throw APIError(.unprocessableContent, "needs_reauth", "the connector must be connected again") }
            throw APIError(.conflict, "not_connected", "the connector has no working credential (\(record.status.rawValue))")
        }
        do {
            let refreshed = try await runtime.scheduler.refreshNow(connectorID: record.id)
            connectors.audit(caller, "refresh", "ok", record)
            struct Body: Encodable {
                var refreshed: Bool
                @Nullable var expiresAt: Date?
            }
            return try HTTPBodies.json(.ok, encoding: Body(refreshed: true, expiresAt: refreshed.record.expiresAt))
        } catch let error as ConnectorError {
            connectors.audit(caller, "refresh", error.code.description, record)
            switch error.code {
            case .needsReauth: throw APIError(.unprocessableContent, "needs_reauth", error.message)
            case .refreshUnavailable: throw APIError(.badGateway, "provider_unavailable", "\(provider.name) could not renew the token now")
            default: throw APIError(error)
            }
        }
    }

    private func test(_ request: Request, ref: String) async throws -> Response {
        let caller = try await connectors.authenticator.authenticate(request)
        let record = try await owned(caller, ref)
        guard record.status == .connected || record.status == .disabled else {
            throw APIError(.conflict, "not_connected", "the connector has no working credential (\(record.status.rawValue))")
        }
        let provider = try connectors.provider(record.provider)
        let secrets = try await runtime.store.secrets(of: record.id)
        let values = connectors.settings.registrations.templateValues(
            provider: provider.slug, accessToken: secrets.accessToken, settingsJSON: record.settingsJSON, metadataJSON: record.metadataJSON)
        let checkedAt = runtime.time.now
        var failure: String?
        let started = ContinuousClock.now
        do {
            _ = try await connectors.client.check(.test, provider: provider, values: values)
        } catch let error as ProviderFailure {
            failure = error.description
        } catch let error as ConnectorError {
            failure = error.message
        }
        let latency = started.duration(to: .now)
        try await runtime.store.recordCheck(id: record.id, healthy: failure == nil, at: checkedAt)
        connectors.audit(caller, "test", failure == nil ? "ok" : "failing", record)
        struct Body: Encodable {
            var ok: Bool
            var latencyMS: Int
            var checkedAt: Date
            /// Present only when the check failed.
            var error: String?
        }
        let milliseconds = Int(latency.components.seconds * 1000 + latency.components.attoseconds / 1_000_000_000_000_000)
        return try HTTPBodies.json(.ok, encoding: Body(ok: failure == nil, latencyMS: milliseconds, checkedAt: checkedAt, error: failure))
    }

    private func delete(_ request: Request, ref: String, logger: Logger) async throws -> Response {
        let caller = try await connectors.authenticator.authenticate(request)
        let record = try await owned(caller, ref)
        let revoked = await connectors.revoke(record, store: runtime.store, logger: logger)
        // Deleted whatever the provider said: the user asked for the credential to be gone from here.
        guard try await runtime.store.delete(userID: caller.userID, reference: record.id) else {
            throw APIError(.notFound, "not_found", "no such connector")
        }
        runtime.cache.invalidate(.init(userID: record.userID, provider: record.provider))
        connectors.audit(caller, "delete", revoked ? "revoked" : "not_revoked", record)
        struct Body: Encodable { var deleted: Bool; var revoked: Bool }
        return try HTTPBodies.json(.ok, encoding: Body(deleted: true, revoked: revoked))
    }
}

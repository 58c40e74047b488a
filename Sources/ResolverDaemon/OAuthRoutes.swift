import Connectors
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import RefreshScheduler
import ResolverCrypto
import Timekeeping

/// The OAuth code flow: `authorize` starts a grant and answers the provider's URL; the provider sends the browser
/// back to `callback`, which checks the single-use state, exchanges the code and stores the connector.
struct OAuthRoutes: Sendable {
    let runtime: ResolverRuntime
    var connectors: ConnectorsRuntime { runtime.connectors }

    func register(on router: Router<BasicRequestContext>) {
        router.get("/api/oauth/:provider/authorize") { request, context in
            try await authorize(request, slug: context.parameters.get("provider") ?? "")
        }
        router.get("/api/oauth/:provider/callback") { request, context in
            try await callback(request, slug: context.parameters.get("provider") ?? "", logger: context.logger)
        }
        router.post("/api/oauth/:provider/confirm") { request, context in
            try await confirm(request, slug: context.parameters.get("provider") ?? "", logger: context.logger)
        }
    }

    /// The URL providers send the browser back to, registered with each provider by the operator.
    func callbackURL(_ slug: String) -> String {
        "\(connectors.settings.publicURL)/api/oauth/\(slug)/callback"
    }

    private func authorize(_ request: Request, slug: String) async throws -> Response {
        let caller = try await connectors.authenticator.authenticate(request)
        let provider = try connectors.provider(slug)
        try caller.check(provider: provider.slug)
        guard provider.type == .oauth, let oauth = provider.oauth else {
            throw APIError(.unprocessableContent, "not_oauth_provider", "\(provider.name) connects with an API key: use /api/connectors/connect")
        }
        guard let client = connectors.settings.registrations.clients[slug] else {
            throw APIError(.serviceUnavailable, "provider_not_configured", "the operator has not configured a client for \(provider.name)")
        }
        let query = request.uri.queryParameters
        let redirectURI = query["redirect_uri"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        if let redirectURI, !connectors.settings.redirectAllowlist.allows(redirectURI) {
            throw APIError(.badRequest, "redirect_not_allowed", "redirect_uri is not on the configured allow-list")
        }
        let scopes: [String]
        do {
            scopes = try AuthorizationRequest.scopes(requested: query["scopes"].map(String.init), configured: oauth.scopes)
        } catch .tooMany {
            throw APIError.invalidRequest("too many or too long scopes")
        } catch .notConfigured(let extra) {
            throw APIError(.badRequest, "scope_not_allowed", "the scope '\(extra.prefix(64))' is not among those configured for \(provider.name)")
        }
        var given: [String: JSONValue] = [:]
        if let text = query["settings"].map(String.init), !text.isEmpty {
            guard let object = (try? JSONValue.parse(Array(text.utf8)))?.object else {
                throw APIError.invalidRequest("settings must be a JSON object")
            }
            given = object
        }
        // A verified setting (a GitHub installation id) may be named here; the callback checks it with the user's
        // own token before it is stored.
        let settings = try provider.validatedSettings(given, allowVerified: true)
        let settingsJSON = JSONValue.object(settings).jsonText()
        let workspaceID = try caller.workspace(requested: query["workspace_id"].map(String.init).flatMap { $0.isEmpty ? nil : $0 })
        let values = connectors.settings.registrations.templateValues(provider: slug, settings: settings.stringValues)
        let authorizeBase = try provider.url(for: .authorize, values: values).target

        let connectorID = try await runtime.store.reservePending(userID: caller.userID, workspaceID: workspaceID, provider: slug)
        let started = try await connectors.grants.start(
            userID: caller.userID, workspaceID: workspaceID, provider: slug, connectorID: connectorID, redirectURI: redirectURI,
            scopes: scopes, settingsJSON: settingsJSON, usesPKCE: oauth.pkce != .none)

        let authURL = AuthorizationRequest.url(
            base: authorizeBase, oauth: oauth, clientID: client.clientID, callbackURL: callbackURL(slug), state: started.state, scopes: scopes,
            codeVerifier: started.codeVerifier)
        connectors.audit(caller, "authorize", "started", nil, provider: slug)
        struct Body: Encodable {
            var authURL: String
            var connectorID: String
            var stateExpiresAt: Date
        }
        return try HTTPBodies.json(.ok, encoding: Body(authURL: authURL, connectorID: connectorID, stateExpiresAt: started.expiresAt))
    }

    private func callback(_ request: Request, slug: String, logger: Logger) async throws -> Response {
        let query = request.uri.queryParameters
        let wantsHTML = request.headers[.accept]?.contains("text/html") ?? false
        guard let provider = connectors.settings.catalog.provider(slug), provider.type == .oauth, let oauth = provider.oauth else {
            throw APIError(.notFound, "unknown_provider", "no OAuth provider '\(slug.prefix(64))' in the catalog")
        }
        guard let state = query["state"].map(String.init), !state.isEmpty, state.utf8.count <= 512 else {
            throw APIError.invalidRequest("the callback has no state")
        }
        let grant: Grant
        switch try await connectors.grants.claim(state: state, provider: slug) {
        case .success(let claimed): grant = claimed
        case .failure(let failure):
            let reason =
                switch failure {
                case .unknown: "the state is unknown"
                case .used: "the state has already been used"
                case .expired: "the authorization expired"
                case .otherProvider: "the state was issued for another provider"
                }
            throw APIError(.badRequest, "invalid_state", reason)
        }
        let caller = UserCaller(userID: grant.userID, workspaceID: grant.workspaceID, actor: "oauth_callback")

        func fail(_ code: String, _ message: String, status: HTTPResponse.Status) async throws -> Response {
            try await connectors.grants.finish(grant.id, connected: false, error: code)
            try await runtime.store.failPending(id: grant.connectorID, reason: code)
            connectors.audit(caller, "callback", code, nil, provider: slug)
            if wantsHTML, let target = grant.redirectURI { return Self.redirect(to: target, ["error": code, "provider": slug]) }
            throw APIError(status, code, message)
        }

        if let error = query["error"].map(String.init), !error.isEmpty {
            let code = error == "access_denied" ? "access_denied" : "provider_error"
            return try await fail(
                code, error == "access_denied" ? "the user declined at \(provider.name)" : "\(provider.name) answered \(error.prefix(64))",
                status: .badRequest)
        }
        guard let code = query[Substring(oauth.codeParam ?? "code")].map(String.init), !code.isEmpty, code.utf8.count <= 4096 else {
            return try await fail("invalid_request", "the callback has no code", status: .badRequest)
        }
        guard let client = connectors.settings.registrations.clients[slug] else {
            return try await fail(
                "provider_not_configured", "the operator has not configured a client for \(provider.name)", status: .serviceUnavailable)
        }
        let tokens: TokenResponse
        do {
            tokens = try await connectors.client.exchangeCode(
                provider: provider, client: client, code: code, redirectURI: callbackURL(slug), codeVerifier: grant.codeVerifier,
                values: connectors.settings.registrations.templateValues(
                    provider: slug, accessToken: nil, settingsJSON: grant.settingsJSON, metadataJSON: "{}"))
        } catch let error as ConnectorError {
            return try await fail("invalid_settings", error.message, status: .unprocessableContent)
        } catch let failure as ProviderFailure {
            logger.warning("code exchange failed", metadata: ["provider": "\(slug)", "error": "\(failure)"])
            if case .rejected(let providerCode, _, _) = failure {
                return try await fail("provider_error", "\(provider.name) refused the code (\(providerCode.prefix(64)))", status: .badGateway)
            }
            return try await fail("provider_unavailable", "\(provider.name) could not be reached", status: .badGateway)
        }

        var metadata: [String: JSONValue] = [:]
        let facts = provider.acceptedFacts(tokens.facts.filter { !["expires_in", "token_type", "scope"].contains($0.key) })
        if !facts.refused.isEmpty {
            logger.warning(
                "the provider named a host outside its domains; not stored", metadata: ["provider": "\(slug)", "facts": "\(facts.refused)"])
        }
        for (key, value) in facts.accepted { metadata[key] = .string(value) }
        var settingsJSON = grant.settingsJSON
        do {
            settingsJSON = try await verifiedSettings(
                provider, grant: grant, query: { query[Substring($0)].map(String.init) }, accessToken: tokens.accessToken)
        } catch let error as ConnectorError {
            return try await fail("installation_not_allowed", error.message, status: .forbidden)
        } catch let failure as ProviderFailure {
            logger.warning("cannot check the user's installations", metadata: ["provider": "\(slug)", "error": "\(failure)"])
            return try await fail("provider_unavailable", "\(provider.name) could not confirm the installation", status: .badGateway)
        }
        let values = connectors.settings.registrations.templateValues(
            provider: slug, accessToken: tokens.accessToken, settingsJSON: settingsJSON, metadataJSON: JSONValue.object(metadata).jsonText())
        let accountName = try? await connectors.check(provider, values: values, logger: logger)
        if let accountName { metadata["account_name"] = .string(accountName) }
        let lifetime = tokens.expiresIn ?? oauth.defaultLifetimeSeconds
        let credential = Credential(
            type: .oauth, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken,
            expiresAt: lifetime.map { runtime.time.now.addingTimeInterval(TimeInterval($0)) }, scopes: tokens.scopes ?? grant.scopes)
        let held = HeldGrant(credential: credential, metadataJSON: JSONValue.object(metadata).jsonText(), settingsJSON: settingsJSON)
        if connectors.settings.requireConfirmation {
            return try await holdForConfirmation(grant, held, caller: caller, wantsHTML: wantsHTML)
        }
        let record = try await store(grant, held, checked: accountName != nil)
        try await connectors.grants.finish(grant.id, connected: true, error: nil)
        connectors.audit(caller, "callback", "connected", record)
        if wantsHTML, let target = grant.redirectURI {
            return Self.redirect(to: target, ["connected": "true", "provider": slug])
        }
        struct Body: Encodable {
            var connected: Bool
            var provider: String
            @Nullable var accountName: String?
            var connectorID: String
        }
        return try HTTPBodies.json(.ok, encoding: Body(connected: true, provider: slug, accountName: accountName, connectorID: record.id))
    }

    /// Stores a grant's tokens as its user's connector.
    func store(_ grant: Grant, _ held: HeldGrant, checked: Bool) async throws -> ConnectorRecord {
        try await runtime.store.put(
            userID: grant.userID, workspaceID: grant.workspaceID, provider: grant.provider, credential: held.credential,
            metadataJSON: held.metadataJSON, settingsJSON: held.settingsJSON, checkedAt: checked ? runtime.time.now : nil,
            nextRefreshAt: runtime.scheduler.nextRefresh(provider: grant.provider, expiresAt: held.credential.expiresAt))
    }

    /// The grant's settings with its `verified` ones confirmed by the provider. A GitHub installation id, named at
    /// authorize or arriving on GitHub's setup redirect (`installation_id`), is kept only when the user's own new
    /// token lists that installation: installation ids are sequential, and the app's JWT would otherwise sign a
    /// token for any customer's installation.
    private func verifiedSettings(
        _ provider: ProviderDefinition, grant: Grant, query: (String) -> String?, accessToken: String
    ) async throws -> String {
        var settings = (try? JSONValue.parse(Array(grant.settingsJSON.utf8)))?.object ?? [:]
        for setting in provider.settings where setting.verified == true {
            if let given = query(setting.name), !given.isEmpty {
                try setting.check(given, provider: provider.name)
                settings[setting.name] = .string(given)
            }
            guard let candidate = settings[setting.name]?.text else { continue }
            guard provider.oauth?.installationsURL != nil else {
                throw ConnectorError(.invalidSettings, message: "\(provider.name) cannot confirm '\(setting.name)'")
            }
            let values = connectors.settings.registrations.templateValues(
                provider: provider.slug, accessToken: accessToken, settingsJSON: grant.settingsJSON, metadataJSON: "{}")
            guard try await connectors.client.installations(provider: provider, values: values).contains(candidate) else {
                throw ConnectorError(.invalidSettings, message: "the \(setting.name) is not one this user's \(provider.name) account can reach")
            }
        }
        return JSONValue.object(settings).jsonText()
    }

    static func redirect(to target: String, _ parameters: [String: String]) -> Response {
        let location = AuthorizationRequest.appending(parameters.sorted(by: { $0.key < $1.key }).map { ($0.key, $0.value) }, to: target)
        return Response(status: .found, headers: [.location: location, .cacheControl: "no-store"])
    }
}

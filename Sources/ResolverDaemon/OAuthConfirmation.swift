import Connectors
import Foundation
import Hummingbird
import Logging

/// Grants bound to the user who started them (`oauth.require_confirmation`). The callback is authenticated by its
/// state alone: an attacker could start a grant, send the provider's page to a victim, and the victim's consent
/// would store the victim's account under the attacker's user. With confirmation, the callback holds the tokens
/// and sends the browser back to `redirect_uri` with a one-time `grant` code; the web app, signed in as the same
/// user, confirms with `POST /api/oauth/{provider}/confirm`. Another user's confirmation, or none within 10
/// minutes, discards the tokens and revokes them at the provider.
extension OAuthRoutes {
    func holdForConfirmation(_ grant: Grant, _ held: HeldGrant, caller: UserCaller, wantsHTML: Bool) async throws -> Response {
        let (code, expiresAt) = try await connectors.grants.hold(grant.id, held)
        connectors.audit(caller, "callback", "held", nil, provider: grant.provider)
        if wantsHTML, let target = grant.redirectURI {
            return Self.redirect(to: target, ["grant": code, "provider": grant.provider])
        }
        struct Body: Encodable {
            var confirmationRequired = true
            var provider: String
            var grant: String
            var connectorID: String
            var confirmBy: Date
        }
        return try HTTPBodies.json(.ok, encoding: Body(provider: grant.provider, grant: code, connectorID: grant.connectorID, confirmBy: expiresAt))
    }

    struct ConfirmRequest: Decodable {
        var grant: String
    }

    func confirm(_ request: Request, slug: String, logger: Logger) async throws -> Response {
        let caller = try await connectors.authenticator.authenticate(request)
        let provider = try connectors.provider(slug)
        try caller.check(provider: provider.slug)
        let body = try ResolveRequest.decode(ConfirmRequest.self, from: try await HTTPBodies.collect(request).readableBytesView)
        guard !body.grant.isEmpty, body.grant.utf8.count <= 128 else { throw APIError.invalidRequest("grant must be the code the callback gave") }
        let unknown = APIError(.notFound, "unknown_grant", "no grant of this user waits for this code")
        switch try await connectors.grants.confirm(code: body.grant, provider: provider.slug, userID: caller.userID) {
        case .unknown:
            throw unknown
        case .discarded(let grant, let held):
            logger.warning("a held grant was confirmed by another user or too late; discarded", metadata: ["provider": "\(slug)"])
            await connectors.revokeHeld(grant, held, logger: logger)
            try await runtime.store.failPending(id: grant.connectorID, reason: "grant_discarded")
            connectors.audit(caller, "confirm", "discarded", nil, provider: slug)
            throw unknown
        case .confirmed(let grant, let held):
            let record = try await store(grant, held, checked: held.accountChecked)
            connectors.audit(caller, "confirm", "connected", record)
            return try HTTPBodies.json(.ok, encoding: ConnectionView(record: record))
        }
    }
}

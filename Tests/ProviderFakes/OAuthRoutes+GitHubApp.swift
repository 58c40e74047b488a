import Foundation
import Hummingbird
import Synchronization

extension OAuthRoutes {
    /// `POST /app/installations/{installation_id}/access_tokens` with the app's JWT as bearer: 201 with an hour's
    /// `ghs_` token, which `/userinfo` accepts too. A JWT that does not verify is 401, an unknown installation 404.
    func installationToken(_ request: Request, context: FakeRequestContext) throws -> Response {
        let now = authority.ledger.withLock { $0.wallClock }
        guard case .bearer(let jwt) = AuthorizationHeader(request.headers[.authorization]), let app = authority.githubApp,
            app.accepts(jwt, now: now)
        else {
            authority.ledger.withLock { $0.counters.failedInstallationTokens += 1 }
            throw GitHubError.undecodableJWT
        }
        let installationID = context.parameters.get("installation_id") ?? ""
        guard let issued = authority.ledger.withLock({ $0.issueInstallationToken(installationID: installationID) }) else {
            throw GitHubError.notFound
        }
        let body = InstallationToken(token: issued.token, expiresAt: issued.expiresAt.formatted(.iso8601))
        return try JSONResponse.make(.created, body)
    }

    private struct InstallationToken: Encodable {
        var token: String
        var expiresAt: String
        var permissions = ["metadata": "read"]
        var repositorySelection = "all"

        init(token: String, expiresAt: String) {
            self.token = token
            self.expiresAt = expiresAt
        }

        enum CodingKeys: String, CodingKey {
            case token, permissions
            case expiresAt = "expires_at"
            case repositorySelection = "repository_selection"
        }
    }
}

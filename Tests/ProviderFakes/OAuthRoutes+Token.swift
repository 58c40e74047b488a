import Hummingbird
import Synchronization

extension OAuthRoutes {
    /// `POST /token`: the `authorization_code` and `refresh_token` grants (RFC 6749 §4.1.3, §6); and, by GET or POST,
    /// Meta's `fb_exchange_token`.
    func token(_ request: Request) async throws -> Response {
        let parameters = try await parameters(of: request)
        // Meta takes its parameters in the query string, even of a POST; RFC 6749 grants only in the body.
        let query = FormParameters(urlEncoded: request.uri.query ?? "")
        if (parameters["grant_type"] ?? query?["grant_type"]) == "fb_exchange_token" {
            authority.ledger.withLock { $0.tokenRequests["fb_exchange_token", default: 0] += 1 }
            guard let merged = query.flatMap(parameters.merging) else { throw MetaError(code: 100, message: "Malformed or repeated parameters.") }
            return try exchangeLongLived(merged)
        }
        let grantType = parameters["grant_type"]
        authority.ledger.withLock { $0.tokenRequests[grantType ?? "", default: 0] += 1 }
        guard request.method == .post else { throw OAuthError(.invalidRequest, "the token endpoint takes POST") }
        let clientID = try authenticateClient(request, parameters)
        let outcome: Result<OAuthLedger.Issued, OAuthError>
        switch grantType {
        case "authorization_code":
            guard let code = parameters["code"] else { throw OAuthError(.invalidRequest, "code is required") }
            outcome = authority.ledger.withLock {
                $0.exchange(code: code, clientID: clientID, redirectURI: parameters["redirect_uri"], codeVerifier: parameters["code_verifier"])
            }
        case "refresh_token":
            guard let refreshToken = parameters["refresh_token"] else { throw OAuthError(.invalidRequest, "refresh_token is required") }
            outcome = authority.ledger.withLock { $0.refresh(refreshToken, scopes: parameters["scope"].map(Self.scopeList)) }
        case nil:
            throw OAuthError(.invalidRequest, "grant_type is required")
        default:
            throw OAuthError(.unsupportedGrantType, "only authorization_code and refresh_token are supported")
        }
        let issued = try outcome.get()
        var body = TokenBody(
            accessToken: issued.accessToken, expiresIn: issued.expiresIn, refreshToken: issued.refreshToken,
            scope: issued.scopes.isEmpty ? nil : issued.scopes.joined(separator: " "))
        body.extras = configuration.tokenAnswerExtras
        return try JSONResponse.make(.ok, body, headers: [.cacheControl: "no-store"])
    }

    /// RFC 6749 §5.1; absent optional members are left out rather than sent as null.
    private struct TokenBody: Encodable {
        var accessToken: String
        var tokenType = "Bearer"
        var expiresIn: Int?
        var refreshToken: String?
        var scope: String?
        /// Members some providers add (`instance_url`).
        var extras: [String: String] = [:]

        init(accessToken: String, expiresIn: Int?, refreshToken: String?, scope: String?) {
            self.accessToken = accessToken
            self.expiresIn = expiresIn
            self.refreshToken = refreshToken
            self.scope = scope
        }

        private struct Name: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(_ name: String) { stringValue = name }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Name.self)
            try container.encode(accessToken, forKey: Name("access_token"))
            // An extra member of the same name replaces the standard one (a provider's odd `expires_in`, say).
            if extras["token_type"] == nil { try container.encode(tokenType, forKey: Name("token_type")) }
            if extras["expires_in"] == nil { try container.encodeIfPresent(expiresIn, forKey: Name("expires_in")) }
            try container.encodeIfPresent(refreshToken, forKey: Name("refresh_token"))
            if extras["scope"] == nil { try container.encodeIfPresent(scope, forKey: Name("scope")) }
            for (key, value) in extras.sorted(by: { $0.key < $1.key }) { try container.encode(value, forKey: Name(key)) }
        }
    }
}

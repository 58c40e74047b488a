import Hummingbird
import NIOCore
import ResolverCrypto
import Synchronization

/// The HTTP face of the fake authorization server: `/authorize`, `/token`, `/revoke` and `/userinfo`, and GitHub's
/// `/app/installations/{id}/access_tokens`.
struct OAuthRoutes: Sendable {
    static let bodyLimit = 64 * 1024

    let authority: OAuthAuthority
    var configuration: FakeOAuthProvider.Configuration { authority.configuration }

    func register(on router: Router<FakeRequestContext>) {
        router.get("/authorize") { request, _ in try authorize(request) }
        router.post("/token") { request, _ in try await token(request) }
        // Only Meta's fb_exchange_token grant is taken by GET; the others are refused.
        router.get("/token") { request, _ in try await token(request) }
        router.post("/revoke") { request, _ in try await revoke(request) }
        router.get("/userinfo") { request, _ in try userinfo(request) }
        router.post("/userinfo") { request, _ in try userinfo(request) }
        router.post("/app/installations/:installation_id/access_tokens") { request, context in try installationToken(request, context: context) }
        router.get("/user/installations") { request, _ in try userInstallations(request) }
        // The real providers' own paths, so that a catalog entry moved here by `base_url` (only the origin moves)
        // reaches the same server: Shopify, Salesforce and GitHub.
        for prefix in ["/admin/oauth", "/services/oauth2", "/login/oauth"] {
            router.get(RouterPath("\(prefix)/authorize")) { request, _ in try authorize(request) }
        }
        for path in ["/admin/oauth/access_token", "/services/oauth2/token", "/login/oauth/access_token"] {
            router.post(RouterPath(path)) { request, _ in try await token(request) }
        }
        router.post("/services/oauth2/revoke") { request, _ in try await revoke(request) }
        router.get("/services/oauth2/userinfo") { request, _ in try userinfo(request) }
        router.get("/user") { request, _ in try userinfo(request) }
    }

    /// GitHub's `GET /user/installations` with the user's token: the installations it may reach.
    private func userInstallations(_ request: Request) throws -> Response {
        var token: String?
        if case .bearer(let bearer) = AuthorizationHeader(request.headers[.authorization]) { token = bearer }
        guard let token, authority.ledger.withLock({ $0.isValid(accessToken: token) }) else {
            throw OAuthError(.invalidToken, "the access token is invalid, expired or revoked", challenge: "Bearer error=\"invalid_token\"")
        }
        struct Installation: Encodable { var id: Int }
        struct Body: Encodable {
            var totalCount: Int
            var installations: [Installation]
            enum CodingKeys: String, CodingKey { case totalCount = "total_count", installations }
        }
        let installations = configuration.userInstallations.sorted().compactMap(Int.init).map(Installation.init)
        return try JSONResponse.make(.ok, Body(totalCount: installations.count, installations: installations))
    }

    /// The body's parameters: a JSON object when the content type says so, a form otherwise.
    func parameters(of request: Request) async throws -> FormParameters {
        let bytes = Array(try await request.body.collect(upTo: Self.bodyLimit).readableBytesView)
        let isJSON = request.headers[.contentType]?.lowercased().hasPrefix("application/json") ?? false
        let parsed = isJSON ? FormParameters(json: bytes) : FormParameters(urlEncoded: String(decoding: bytes, as: UTF8.self))
        guard let parsed else { throw OAuthError(.invalidRequest, "malformed or repeated parameters") }
        return parsed
    }

    /// The client id, once the client authenticated with the configured method and no other (RFC 6749 §2.3.1).
    func authenticateClient(_ request: Request, _ parameters: FormParameters) throws(OAuthError) -> String {
        var presented: (id: String, secret: String)?
        switch configuration.clientAuth {
        case .basic:
            // The id and secret are form-encoded before they are joined and base64-encoded.
            if case .basic(let user, let password) = AuthorizationHeader(request.headers[.authorization]), parameters["client_secret"] == nil,
                let id = FormParameters.formDecode(user), let secret = FormParameters.formDecode(password),
                parameters["client_id"] == nil || parameters["client_id"] == id
            {
                presented = (id, secret)
            }
        case .post:
            if request.headers[.authorization] == nil, let id = parameters["client_id"], let secret = parameters["client_secret"] {
                presented = (id, secret)
            }
        }
        guard let presented, presented.id == configuration.clientID,
            ConstantTime.equals(Array(presented.secret.utf8), Array(configuration.clientSecret.utf8))
        else {
            authority.ledger.withLock { $0.counters.invalidClientRequests += 1 }
            let challenge = configuration.clientAuth == .basic ? "Basic realm=\"fake-oauth\"" : nil
            throw OAuthError(.invalidClient, "client authentication failed", challenge: challenge)
        }
        return presented.id
    }

    /// Space-separated scopes as a list (RFC 6749 §3.3).
    static func scopeList(_ text: String) -> [String] {
        text.split(separator: " ").map(String.init)
    }

    // MARK: Revocation and user info

    /// RFC 7009: 200 whether or not the token was known.
    private func revoke(_ request: Request) async throws -> Response {
        let parameters = try await parameters(of: request)
        _ = try authenticateClient(request, parameters)
        guard let token = parameters["token"] else { throw OAuthError(.invalidRequest, "token is required") }
        authority.ledger.withLock {
            $0.revoke(token)
            $0.counters.revocations += 1
        }
        return Response(status: .ok, headers: [.cacheControl: "no-store"])
    }

    private func userinfo(_ request: Request) throws -> Response {
        var token: String?
        if case .bearer(let bearer) = AuthorizationHeader(request.headers[.authorization]) { token = bearer }
        let valid = authority.ledger.withLock { ledger in
            ledger.counters.userinfoCalls += 1
            return token.map { ledger.isValid(accessToken: $0) } ?? false
        }
        guard valid else {
            throw OAuthError(.invalidToken, "the access token is invalid, expired or revoked", challenge: "Bearer error=\"invalid_token\"")
        }
        return try JSONResponse.make(.ok, UserInfo(sub: configuration.subject, email: configuration.accountName, name: configuration.accountName))
    }

    private struct UserInfo: Encodable {
        var sub: String
        var email: String
        var name: String
    }
}

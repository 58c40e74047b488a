import Foundation
import Hummingbird
import Synchronization

extension OAuthRoutes {
    /// `GET /authorize`: approves at once (or denies, when a test asked) and redirects back with a code (RFC 6749 §4.1).
    func authorize(_ request: Request) throws -> Response {
        guard let query = FormParameters(urlEncoded: request.uri.query ?? "") else {
            throw OAuthError(.invalidRequest, "malformed or repeated parameters")
        }
        // Without a trustworthy client and redirect URI there is nowhere safe to redirect: answer the browser (§4.1.2.1).
        guard query["client_id"] == configuration.clientID else { throw OAuthError(.invalidClient, "unknown client_id") }
        guard let redirectURI = query["redirect_uri"], Self.isRedirectable(redirectURI) else {
            throw OAuthError(.invalidRequest, "redirect_uri must be an absolute URI without a fragment")
        }
        let authorization = OAuthLedger.AuthorizationRequest(
            clientID: configuration.clientID, redirectURI: redirectURI, codeChallenge: query["code_challenge"],
            scopes: query["scope"].map(Self.scopeList) ?? configuration.scopes)
        let outcome = authority.ledger.withLock { $0.authorize(authorization, refusal: refusal(of: query)) }
        switch outcome {
        case .success(let code):
            return Self.redirect(to: redirectURI, [("code", code), ("state", query["state"])])
        case .failure(let error):
            return Self.redirect(to: redirectURI, [("error", error.code.rawValue), ("error_description", error.detail), ("state", query["state"])])
        }
    }

    /// Why an otherwise addressable authorization request is refused, if it is.
    private func refusal(of query: FormParameters) -> OAuthError? {
        guard let responseType = query["response_type"] else { return OAuthError(.invalidRequest, "response_type is required") }
        guard responseType == "code" else { return OAuthError(.unsupportedResponseType, "only response_type=code is supported") }
        switch (query["code_challenge"], query["code_challenge_method"]) {
        case (nil, _):
            if configuration.requirePKCE { return OAuthError(.invalidRequest, "code_challenge is required") }
        case (let challenge?, "S256"):
            if !PKCE.isWellFormedChallenge(challenge) { return OAuthError(.invalidRequest, "code_challenge is malformed") }
        case (.some, _):
            return OAuthError(.invalidRequest, "code_challenge_method must be S256")
        }
        return nil
    }

    private static func isRedirectable(_ uri: String) -> Bool {
        guard let components = URLComponents(string: uri) else { return false }
        return components.scheme != nil && components.fragment == nil
    }

    /// A 302 to `base` with `parameters` (nil values left out) appended to whatever query it already has.
    static func redirect(to base: String, _ parameters: [(name: String, value: String?)]) -> Response {
        let query = parameters.compactMap { name, value in value.map { "\(name)=\(FormParameters.encode($0))" } }.joined(separator: "&")
        let separator = !base.contains("?") ? "?" : base.hasSuffix("?") || base.hasSuffix("&") ? "" : "&"
        return Response(status: .found, headers: [.location: base + separator + query, .cacheControl: "no-store"])
    }
}

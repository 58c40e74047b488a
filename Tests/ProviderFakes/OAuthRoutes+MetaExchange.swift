import Hummingbird
import ResolverCrypto
import Synchronization

extension OAuthRoutes {
    /// Meta's long-lived token exchange, `grant_type=fb_exchange_token` with `client_id`, `client_secret` and the
    /// current access token as `fb_exchange_token`. The answer has no refresh token; the token exchanged stays valid.
    func exchangeLongLived(_ parameters: FormParameters) throws -> Response {
        try authenticateMetaClient(parameters)
        guard let accessToken = parameters["fb_exchange_token"] else {
            throw MetaError(code: 100, message: "Missing parameter fb_exchange_token.")
        }
        let issued = try authority.ledger.withLock { $0.exchangeLongLived(accessToken: accessToken) }.get()
        return try JSONResponse.make(
            .ok, LongLivedToken(accessToken: issued.accessToken, expiresIn: issued.expiresIn), headers: [.cacheControl: "no-store"])
    }

    /// Meta takes the client's id and secret as parameters only, whatever `clientAuth` says.
    private func authenticateMetaClient(_ parameters: FormParameters) throws {
        var refusal: MetaError?
        if parameters["client_id"] != configuration.clientID {
            refusal = MetaError(code: 101, message: "Error validating application. Invalid application ID.")
        } else if !ConstantTime.equals(Array((parameters["client_secret"] ?? "").utf8), Array(configuration.clientSecret.utf8)) {
            refusal = MetaError(code: 1, message: "Error validating client secret.")
        }
        if let refusal {
            authority.ledger.withLock { $0.counters.invalidClientRequests += 1 }
            throw refusal
        }
    }

    /// Meta's answer: `token_type` in lower case, `expires_in` always.
    private struct LongLivedToken: Encodable {
        var accessToken: String
        var tokenType = "bearer"
        var expiresIn: Int?

        init(accessToken: String, expiresIn: Int?) {
            self.accessToken = accessToken
            self.expiresIn = expiresIn
        }

        enum CodingKeys: String, CodingKey {
            case accessToken = "access_token"
            case tokenType = "token_type"
            case expiresIn = "expires_in"
        }
    }
}

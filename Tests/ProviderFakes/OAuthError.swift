import Hummingbird

/// An OAuth 2.0 error answer (RFC 6749 §5.2, RFC 6750 §3): `{"error": code, "error_description": detail}`.
struct OAuthError: Error, HTTPResponseError {
    enum Code: String, Sendable {
        case invalidRequest = "invalid_request"
        case invalidClient = "invalid_client"
        case invalidGrant = "invalid_grant"
        case invalidScope = "invalid_scope"
        case unsupportedGrantType = "unsupported_grant_type"
        case unsupportedResponseType = "unsupported_response_type"
        case accessDenied = "access_denied"
        case invalidToken = "invalid_token"
    }

    var code: Code
    var detail: String?
    /// The `WWW-Authenticate` challenge of a 401.
    var challenge: String?

    init(_ code: Code, _ detail: String? = nil, challenge: String? = nil) {
        self.code = code
        self.detail = detail
        self.challenge = challenge
    }

    var status: HTTPResponse.Status {
        switch code {
        case .invalidClient, .invalidToken: .unauthorized
        default: .badRequest
        }
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.cacheControl: "no-store"]
        if let challenge { headers[.wwwAuthenticate] = challenge }
        return try JSONResponse.make(status, Body(error: code.rawValue, errorDescription: detail), headers: headers)
    }

    private struct Body: Encodable {
        var error: String
        var errorDescription: String?

        enum CodingKeys: String, CodingKey {
            case error
            case errorDescription = "error_description"
        }
    }
}

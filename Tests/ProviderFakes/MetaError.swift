import Hummingbird

/// An error answer in Meta's Graph API shape, always HTTP 400:
/// `{"error": {"message": …, "type": "OAuthException", "code": 190, "error_subcode": 463, "fbtrace_id": …}}`.
struct MetaError: Error, HTTPResponseError {
    /// 190 for an invalid token, 1 for a bad client secret, 101 for an unknown app, 100 for a bad parameter.
    var code: Int
    /// For code 190: 463 expired, 467 invalid; nil when Meta gives none.
    var subcode: Int?
    var message: String

    init(code: Int, subcode: Int? = nil, message: String) {
        self.code = code
        self.subcode = subcode
        self.message = message
    }

    var status: HTTPResponse.Status { .badRequest }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let detail = Detail(message: message, code: code, errorSubcode: subcode, fbtraceID: RandomToken.make(prefix: "", byteCount: 9, secret: false))
        return try JSONResponse.make(status, Body(error: detail), headers: [.cacheControl: "no-store"])
    }

    private struct Body: Encodable {
        var error: Detail
    }

    private struct Detail: Encodable {
        var message: String
        var type = "OAuthException"
        var code: Int
        var errorSubcode: Int?
        var fbtraceID: String

        enum CodingKeys: String, CodingKey {
            case message, type, code
            case errorSubcode = "error_subcode"
            case fbtraceID = "fbtrace_id"
        }
    }
}

import Hummingbird

/// An error answer in Stripe's shape: `{"error": {"type": …, "message": …}}`.
struct APIKeyError: Error, HTTPResponseError {
    var status: HTTPResponse.Status
    var type: String
    var message: String

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let headers: HTTPFields = status == .unauthorized ? [.wwwAuthenticate: "Basic realm=\"fake-apikey\""] : [:]
        return try JSONResponse.make(status, Body(error: .init(type: type, message: message)), headers: headers)
    }

    private struct Body: Encodable {
        var error: Detail
    }

    private struct Detail: Encodable {
        var type: String
        var message: String
    }
}

import Connectors
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PGClient

/// An error answered as DESIGN.md's body, `{"error": {"code": …, "message": …}}`, with its status.
struct APIError: Error, HTTPResponseError, Sendable {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    /// Methods the path allows, sent as `Allow` with a 405.
    var allow: [HTTPRequest.Method] = []
    /// Seconds until asking again may succeed, sent as `Retry-After` (a 429).
    var retryAfterSeconds: Int?

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    static func methodNotAllowed(_ allowed: [HTTPRequest.Method]) -> APIError {
        var error = APIError(.methodNotAllowed, "method_not_allowed", "this path allows \(allowed.map(\.rawValue).joined(separator: ", "))")
        error.allow = allowed
        return error
    }

    static func invalidRequest(_ message: String) -> APIError { APIError(.badRequest, "invalid_request", message) }
    static let unauthorized = APIError(.unauthorized, "unauthorized", "a valid X-Reeve-Services-Token is required")
    static let tooLarge = APIError(.contentTooLarge, "payload_too_large", "request bodies are limited to 64 KiB")

    var headers: HTTPFields {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if !allow.isEmpty { headers[.allow] = allow.map(\.rawValue).joined(separator: ", ") }
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        return headers
    }

    var body: [UInt8] {
        var json = JSONText(capacity: 96)
        json.raw("{\"error\":{\"code\":")
        json.string(code)
        json.raw(",\"message\":")
        json.string(message)
        json.raw("}}")
        return json.bytes
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The one place domain and database errors become HTTP answers.
    init(_ error: any Error) {
        switch error {
        case let error as APIError:
            self = error
        case let error as ConnectorError:
            switch error.code {
            case .notConnected: self.init(.notFound, "not_connected", error.message)
            case .needsReauth: self.init(.conflict, "needs_reauth", error.message)
            case .disabled: self.init(.init(code: 423, reasonPhrase: "Locked"), "disabled", error.message)
            case .corruptCredential: self.init(.serviceUnavailable, "corrupt_credential", "the stored credential cannot be decrypted")
            case .refreshUnavailable: self.init(.serviceUnavailable, "refresh_unavailable", error.message)
            case .notFound: self.init(.notFound, "not_found", error.message)
            case .unknownProvider: self.init(.notFound, "unknown_provider", error.message)
            case .invalidSettings: self.init(.unprocessableContent, "invalid_settings", error.message)
            case .invalidCredentials: self.init(.unprocessableContent, "invalid_credentials", error.message)
            case .providerUnavailable: self.init(.badGateway, "provider_unavailable", error.message)
            case .providerError: self.init(.badGateway, "provider_error", error.message)
            case .providerNotConfigured: self.init(.serviceUnavailable, "provider_not_configured", error.message)
            case .invalidState: self.init(.badRequest, "invalid_state", error.message)
            case .accessDenied: self.init(.badRequest, "access_denied", error.message)
            case .forbidden: self.init(.forbidden, "forbidden", error.message)
            case .refreshBudgetSpent:
                self.init(.tooManyRequests, "refresh_budget_spent", error.message)
                retryAfterSeconds = error.retryAfter.map { max(1, Int($0.timeIntervalSinceNow.rounded(.up))) }
            default: self.init(.serviceUnavailable, "unavailable", "the credential store is unavailable")
            }
        case is PGError:
            self.init(.serviceUnavailable, "unavailable", "the credential store is unavailable")
        case is NIOTooManyBytesError:
            self = .tooLarge
        default:
            self.init(.internalServerError, "internal", "an unexpected error occurred")
        }
    }
}

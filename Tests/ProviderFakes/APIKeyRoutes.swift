import Hummingbird
import Synchronization

/// The HTTP face of the fake API-key service, shaped like Stripe's: `/v1/me`, `/v1/balance`, `/v1/revoke`.
struct APIKeyRoutes: Sendable {
    let service: APIKeyService

    func register(on router: Router<FakeRequestContext>) {
        router.get("/v1/me") { request, _ in try account(request) }
        router.get("/v1/balance") { request, _ in try account(request) }
        router.post("/v1/revoke") { request, _ in try revoke(request) }
    }

    /// The key of a request: a bearer token, or a Basic user name with an empty password as Stripe also takes.
    static func key(of request: Request) -> String? {
        switch AuthorizationHeader(request.headers[.authorization]) {
        case .bearer(let key): key
        case .basic(let user, ""): user
        default: nil
        }
    }

    private func account(_ request: Request) throws -> Response {
        let key = Self.key(of: request)
        guard service.ledger.withLock({ $0.validate(key) }) else { throw Self.invalidKey }
        return try JSONResponse.make(.ok, Account(id: service.accountID, name: service.accountName, displayName: service.accountName))
    }

    private func revoke(_ request: Request) throws -> Response {
        let key = Self.key(of: request)
        guard service.ledger.withLock({ $0.revoke(key) }) else { throw Self.invalidKey }
        return try JSONResponse.make(.ok, Revoked(id: service.accountID, revoked: true))
    }

    private static let invalidKey = APIKeyError(status: .unauthorized, type: "invalid_request_error", message: "Invalid API Key provided")

    private struct Account: Encodable {
        var id: String
        var name: String
        var displayName: String

        enum CodingKeys: String, CodingKey {
            case id, name
            case displayName = "display_name"
        }
    }

    private struct Revoked: Encodable {
        var id: String
        var revoked: Bool
    }
}

import Connectors
import Foundation
import HTTPTypes
import Hummingbird
import ResolverCrypto

/// Who calls the connectors API: a user (through an API key or a session JWT), or an internal service acting
/// for a user. Everything the API does is scoped to `userID`.
struct UserCaller: Sendable {
    var userID: String
    var workspaceID: String?
    /// For the audit trail: `api_key:ak_…`, `session`, `service:NAME`. Never a credential.
    var actor: String
    /// The services token acting for the user, if one is; its allow-list limits the providers.
    var service: ServicesTokens.Entry? = nil

    /// The providers the caller is limited to; nil: every provider (users, and unrestricted tokens).
    var providers: Set<String>? { service?.providers }

    /// The workspace a new connector goes to. A user's API key or session decides it (a request naming another
    /// is refused); a services token acting for a user may name it.
    func workspace(requested: String?) throws -> String? {
        guard let requested else { return workspaceID }
        guard UserIDs.isValid(requested) else { throw APIError.invalidRequest("workspace_id must be \(UserIDs.rule)") }
        if service != nil || requested.utf8.elementsEqual((workspaceID ?? "").utf8) { return requested }
        throw APIError(.forbidden, "forbidden", "this credential acts in its own workspace only")
    }

    /// Refuses (403) a provider outside the caller's services-token allow-list.
    func check(provider: String) throws {
        if let service, !service.mayResolve(provider) {
            throw APIError(.forbidden, "forbidden", "this services token may not act on \(provider) connectors")
        }
    }
}

/// Authenticates `/api/*` requests: `Authorization: Bearer tnx_…` (a user API key), `Authorization: Bearer <JWT>`
/// (a session from the web app), or `X-Reeve-Services-Token` with `X-Reeve-User-Id`.
struct UserAuthenticator: Sendable {
    static let userField = HTTPField.Name("X-Reeve-User-Id")!
    let apiKeys: APIKeyStore
    let sessions: JWTVerifier?
    let services: ServicesTokenBox
    var now: @Sendable () -> Date = Date.init

    /// The fields that say who calls. One of each at most: two (a proxy's and a client's, say) would be joined
    /// into one value by the fields' subscript, and which one counts must never be a guess.
    static let identityFields: [HTTPField.Name] = [.authorization, ServicesTokenHeader.name, userField]

    func authenticate(_ request: Request) async throws -> UserCaller {
        for name in Self.identityFields where request.headers[values: name].count > 1 {
            throw APIError.invalidRequest("the \(name.canonicalName) header is given more than once")
        }
        if let authorization = request.headers[.authorization] {
            guard authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else {
                throw Self.refused("the Authorization header must be Bearer <credential>")
            }
            let credential = authorization.dropFirst(7).trimmingCharacters(in: .whitespaces)
            if credential.hasPrefix(APIKeyStore.prefix) {
                guard let key = try await apiKeys.authenticate(credential) else {
                    throw Self.refused("the API key is not valid or has been revoked")
                }
                return UserCaller(userID: key.userID, workspaceID: key.workspaceID, actor: "api_key:\(key.id)")
            }
            guard let sessions else { throw Self.refused("the credential is not a valid API key") }
            do {
                let claims = try sessions.verify(credential, now: now())
                guard UserIDs.isValid(claims.subject) else { throw Self.refused("the session token's subject is not a user id (\(UserIDs.rule))") }
                return UserCaller(userID: claims.subject, workspaceID: claims.workspace, actor: "session")
            } catch let error as JWTError {
                throw Self.refused(error.code == .expired ? "the session token has expired" : "the session token is not valid")
            }
        }
        if let token = request.headers[ServicesTokenHeader.name] {
            guard let entry = services.current.authenticate(token) else { throw Self.refused("the services token is not valid") }
            guard let user = request.headers[Self.userField], UserIDs.isValid(user) else {
                throw Self.refused("a services token acts for the user named in X-Reeve-User-Id")
            }
            return UserCaller(userID: user, workspaceID: nil, actor: "service:\(entry.name)", service: entry)
        }
        throw Self.refused("an Authorization: Bearer credential is required")
    }

    private static func refused(_ message: String) -> APIError {
        APIError(.unauthorized, "unauthorized", message)
    }
}

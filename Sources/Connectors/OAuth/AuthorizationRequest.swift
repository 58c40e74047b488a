import Foundation
import ResolverCrypto

/// The provider's authorization URL of a grant (RFC 6749 §4.1.1, with PKCE per RFC 7636): where the user's
/// browser goes to consent. Built from the catalog entry, the operator's client id and the grant's state.
public enum AuthorizationRequest {
    /// A caller's `scopes` refused.
    public enum ScopeError: Error, Sendable, Equatable {
        /// More than 64 scopes, or one longer than 256 bytes.
        case tooMany
        /// A scope the operator did not configure for the provider.
        case notConfigured(String)
    }

    /// The scopes a grant asks for: the configured ones, or those the caller names (separated by spaces or
    /// commas), which may be fewer than the configured ones but never another.
    public static func scopes(requested: String?, configured: [String]) throws(ScopeError) -> [String] {
        guard let requested, !requested.isEmpty else { return configured }
        let scopes = requested.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        guard scopes.count <= 64, scopes.allSatisfy({ $0.utf8.count <= 256 }) else { throw .tooMany }
        let allowed = Set(configured)
        if let extra = scopes.first(where: { !allowed.contains($0) }) { throw .notConfigured(extra) }
        return scopes
    }

    /// The authorization URL: `base` (the catalog's rendered and checked authorize URL) with the code flow's
    /// parameters, the S256 challenge of `codeVerifier` when the grant uses PKCE, and the provider's fixed
    /// extra parameters.
    public static func url(
        base: String, oauth: ProviderDefinition.OAuth, clientID: String, callbackURL: String, state: String, scopes: [String],
        codeVerifier: String?
    ) -> String {
        var parameters: [(String, String)] = [
            ("response_type", "code"), (oauth.clientIDParam ?? "client_id", clientID), ("redirect_uri", callbackURL), ("state", state),
        ]
        if !scopes.isEmpty { parameters.append(("scope", scopes.joined(separator: oauth.scopeSeparator ?? " "))) }
        if let codeVerifier {
            parameters.append(("code_challenge", codeChallenge(codeVerifier)))
            parameters.append(("code_challenge_method", "S256"))
        }
        for (name, value) in (oauth.authorizeParams ?? [:]).sorted(by: { $0.key < $1.key }) { parameters.append((name, value)) }
        return appending(parameters, to: base)
    }

    /// The S256 code challenge of a PKCE verifier: BASE64URL(SHA256(verifier)), without padding.
    public static func codeChallenge(_ verifier: String) -> String {
        Base64URL.encode(SHA256.hash(Array(verifier.utf8)))
    }

    /// `target` with `parameters` appended to its query, each name and value percent-encoded.
    public static func appending(_ parameters: [(String, String)], to target: String) -> String {
        let query = parameters.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
        return target + (target.contains("?") ? "&" : "?") + query
    }

    private static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlUnreserved) ?? ""
    }
}

import Foundation
import ResolverCrypto

/// Checks a GitHub App's JWT as GitHub does: RS256 with the app's key, `iss` the app id, `iat` in the past, `exp` in
/// the future and at most 10 minutes after `iat`.
///
/// `JWTVerifier` is made for session tokens and demands a `sub`, which app JWTs do not carry; so the signature is
/// checked with its `SignatureVerifier` and the claims here.
struct GitHubAppJWT: Sendable {
    /// GitHub refuses app JWTs that live longer.
    static let maximumLifetime: TimeInterval = 600

    let appID: String
    private let key: SignatureVerifier

    /// Throws when `publicKeyPEM` is not an RSA public key of at least 2048 bits.
    init(appID: String, publicKeyPEM: String) throws {
        self.appID = appID
        self.key = try SignatureVerifier.rs256(publicKeyPEM: publicKeyPEM)
    }

    /// True when `token` is a JWT of this app that GitHub would accept at `now`.
    func accepts(_ token: String, now: Date) -> Bool {
        let segments = token.split(separator: ".", omittingEmptySubsequences: false)
        guard token.utf8.count <= JWTVerifier.maxTokenLength, segments.count == 3,
            let header = Base64URL.decode(segments[0]).flatMap({ try? JSONDecoder().decode(Header.self, from: Data($0)) }),
            header.alg == SignatureVerifier.Algorithm.rs256.rawValue, header.crit == nil,
            let signature = Base64URL.decode(segments[2]),
            key.isValidSignature(signature, for: Array(token.utf8.prefix(segments[0].utf8.count + 1 + segments[1].utf8.count))),
            let claims = Base64URL.decode(segments[1]).flatMap({ try? JSONDecoder().decode(Claims.self, from: Data($0)) })
        else { return false }
        let seconds = now.timeIntervalSince1970
        return claims.iss == appID && claims.iat <= seconds && seconds < claims.exp && claims.exp - claims.iat <= Self.maximumLifetime
    }

    private struct Header: Decodable {
        var alg: String
        var crit: [String]?
    }

    /// GitHub takes `iss` as the numeric app id or as a string (the app id or its client id).
    private struct Claims: Decodable {
        var iss: String
        var iat: Double
        var exp: Double

        private enum Keys: String, CodingKey { case iss, iat, exp }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            if let number = try? container.decode(Int.self, forKey: .iss) {
                iss = String(number)
            } else {
                iss = try container.decode(String.self, forKey: .iss)
            }
            iat = try container.decode(Double.self, forKey: .iat)
            exp = try container.decode(Double.self, forKey: .exp)
        }
    }
}

public import Foundation

/// The claims resolverd reads from a verified JWT.
public struct JWTClaims: Sendable, Equatable {
    /// `sub`: the user id.
    public let subject: String
    /// `workspace`: the workspace the session acts in, if any.
    public let workspace: String?
    /// `iss`.
    public let issuer: String?
    /// `aud`, normalised to a list (a single string becomes one element).
    public let audience: [String]
    /// `exp`.
    public let expiresAt: Date?
    /// `nbf`.
    public let notBefore: Date?
    /// `iat`.
    public let issuedAt: Date?
}

/// The payload as it arrives, before the checks; `aud` may be a string or an array, times may be fractional.
struct JWTPayload: Decodable {
    let sub: String?
    let workspace: String?
    let iss: String?
    let aud: [String]
    let exp: Double?
    let nbf: Double?
    let iat: Double?

    private enum Keys: String, CodingKey { case sub, workspace, iss, aud, exp, nbf, iat }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        sub = try container.decodeIfPresent(String.self, forKey: .sub)
        workspace = try container.decodeIfPresent(String.self, forKey: .workspace)
        iss = try container.decodeIfPresent(String.self, forKey: .iss)
        if let single = try? container.decodeIfPresent(String.self, forKey: .aud) {
            aud = [single]
        } else {
            aud = try container.decodeIfPresent([String].self, forKey: .aud) ?? []
        }
        exp = try container.decodeIfPresent(Double.self, forKey: .exp)
        nbf = try container.decodeIfPresent(Double.self, forKey: .nbf)
        iat = try container.decodeIfPresent(Double.self, forKey: .iat)
    }
}

/// The JOSE header fields resolverd looks at.
struct JWTHeader: Codable {
    let alg: String
    let typ: String?
    let kid: String?
    let crit: [String]?
}

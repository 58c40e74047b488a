public import Foundation

/// Builds and signs compact RS256 JWTs (GitHub App authentication).
public struct JWTSigner: Sendable {
    private let key: RSASigner
    private let keyID: String?

    /// A signer with `key`; `keyID` goes into the header's `kid` when given.
    public init(key: RSASigner, keyID: String? = nil) {
        self.key = key
        self.keyID = keyID
    }

    /// `header.claims.signature`, each base64url, with header `{"alg":"RS256","typ":"JWT"}`.
    public func sign(_ claims: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let header = try encoder.encode(JWTHeader(alg: SignatureVerifier.Algorithm.rs256.rawValue, typ: "JWT", kid: keyID, crit: nil))
        let payload = try encoder.encode(claims)
        let signingInput = Base64URL.encode(header) + "." + Base64URL.encode(payload)
        let signature = try key.signature(for: Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }
}

/// Registered JWT claims (RFC 7519 §4.1) with times in whole seconds, for tokens resolverd signs.
public struct JWTRegisteredClaims: Encodable, Sendable {
    /// `iss` (a GitHub App's id).
    public var issuer: String?
    /// `sub`.
    public var subject: String?
    /// `aud`.
    public var audience: String?
    /// `iat`.
    public var issuedAt: Date?
    /// `nbf`.
    public var notBefore: Date?
    /// `exp`.
    public var expiresAt: Date?

    /// Claims; absent ones are left out of the token.
    public init(
        issuer: String? = nil, subject: String? = nil, audience: String? = nil, issuedAt: Date? = nil, notBefore: Date? = nil,
        expiresAt: Date? = nil
    ) {
        self.issuer = issuer
        self.subject = subject
        self.audience = audience
        self.issuedAt = issuedAt
        self.notBefore = notBefore
        self.expiresAt = expiresAt
    }

    private enum Keys: String, CodingKey { case iss, sub, aud, iat, nbf, exp }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encodeIfPresent(issuer, forKey: .iss)
        try container.encodeIfPresent(subject, forKey: .sub)
        try container.encodeIfPresent(audience, forKey: .aud)
        try container.encodeIfPresent(try issuedAt.map(Self.numericDate), forKey: .iat)
        try container.encodeIfPresent(try notBefore.map(Self.numericDate), forKey: .nbf)
        try container.encodeIfPresent(try expiresAt.map(Self.numericDate), forKey: .exp)
    }

    /// Whole seconds since 1970, as RFC 7519 NumericDate; dates beyond Int64 are refused rather than trapping.
    private static func numericDate(_ date: Date) throws -> Int64 {
        guard let seconds = Int64(exactly: date.timeIntervalSince1970.rounded(.down)) else {
            throw EncodingError.invalidValue(date, .init(codingPath: [], debugDescription: "date out of NumericDate range"))
        }
        return seconds
    }
}

public import Foundation

/// Verifies compact JWTs (session tokens from the web app) against configured keys.
///
/// The configured keys decide the algorithm: a header naming `none`, or HS256 when the key is an RSA public key,
/// is refused before any signature check. Time comes from the caller (`now`), never from the wall clock.
public struct JWTVerifier: Sendable {
    /// Tokens longer than this are refused unparsed.
    public static let maxTokenLength = 16 * 1024

    private let keys: [SignatureVerifier]
    private let issuer: String?
    private let audience: String?
    private let leeway: TimeInterval
    private let requireExpiration: Bool

    /// A verifier over one or more keys (several during rotation); `issuer`/`audience` are checked when given.
    public init(
        keys: [SignatureVerifier], issuer: String? = nil, audience: String? = nil, leeway: TimeInterval = 60,
        requireExpiration: Bool = true
    ) {
        precondition(!keys.isEmpty, "a JWT verifier needs at least one key")
        precondition(leeway >= 0, "leeway must not be negative")
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.requireExpiration = requireExpiration
    }

    /// A verifier over one key.
    public init(
        key: SignatureVerifier, issuer: String? = nil, audience: String? = nil, leeway: TimeInterval = 60, requireExpiration: Bool = true
    ) {
        self.init(keys: [key], issuer: issuer, audience: audience, leeway: leeway, requireExpiration: requireExpiration)
    }

    /// Checks signature, algorithm, times, issuer and audience at `now`; returns the claims or throws `JWTError`.
    public func verify(_ token: String, now: Date) throws -> JWTClaims {
        let bytes = Array(token.utf8)
        guard bytes.count <= Self.maxTokenLength else { throw JWTError(.malformed, detail: "token longer than \(Self.maxTokenLength) bytes") }
        let segments = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard segments.count == 3, !segments[0].isEmpty, !segments[1].isEmpty, !segments[2].isEmpty else {
            throw JWTError(.malformed, detail: "not three non-empty segments")
        }
        guard let headerJSON = Base64.decode(segments[0], alphabet: .url, padding: false),
            let payloadJSON = Base64.decode(segments[1], alphabet: .url, padding: false),
            let signature = Base64.decode(segments[2], alphabet: .url, padding: false)
        else { throw JWTError(.malformed, detail: "a segment is not unpadded base64url") }

        let header: JWTHeader
        do {
            header = try JSONDecoder().decode(JWTHeader.self, from: Data(headerJSON))
        } catch {
            throw JWTError(.malformed, detail: "header is not a JSON object with a string alg")
        }
        let candidates = keys.filter { $0.algorithm.rawValue == header.alg }
        guard !candidates.isEmpty else {
            let allowed = Set(keys.map(\.algorithm.rawValue)).sorted().joined(separator: ",")
            throw JWTError(.algorithmNotAllowed, detail: "header alg \(Self.printable(header.alg)) is not among the configured \(allowed)")
        }
        if let critical = header.crit, !critical.isEmpty {
            throw JWTError(.malformed, detail: "crit header parameters are not supported")
        }

        let signingInput = bytes[0..<(segments[0].count + 1 + segments[1].count)]
        guard candidates.contains(where: { $0.isValidSignature(signature, for: signingInput) }) else {
            throw JWTError(.invalidSignature)
        }

        let payload: JWTPayload
        do {
            payload = try JSONDecoder().decode(JWTPayload.self, from: Data(payloadJSON))
        } catch {
            throw JWTError(.malformed, detail: "claims are not a JSON object with correctly typed registered claims")
        }
        return try check(payload, now: now.timeIntervalSince1970)
    }

    private func check(_ payload: JWTPayload, now: TimeInterval) throws -> JWTClaims {
        if let exp = payload.exp {
            guard now < exp + leeway else {
                throw JWTError(.expired, detail: "exp \(Self.seconds(exp)) + leeway \(Self.seconds(leeway))s <= now \(Self.seconds(now))")
            }
        } else if requireExpiration {
            throw JWTError(.missingExpiration)
        }
        if let nbf = payload.nbf, now + leeway < nbf {
            throw JWTError(.notYetValid, detail: "nbf \(Self.seconds(nbf)) > now \(Self.seconds(now)) + leeway \(Self.seconds(leeway))s")
        }
        if let issuer, payload.iss != issuer { throw JWTError(.issuerMismatch) }
        if let audience, !payload.aud.contains(audience) { throw JWTError(.audienceMismatch) }
        guard let subject = payload.sub, !subject.isEmpty else { throw JWTError(.missingSubject) }
        return JWTClaims(
            subject: subject, workspace: payload.workspace, issuer: payload.iss, audience: payload.aud,
            expiresAt: payload.exp.map(Date.init(timeIntervalSince1970:)), notBefore: payload.nbf.map(Date.init(timeIntervalSince1970:)),
            issuedAt: payload.iat.map(Date.init(timeIntervalSince1970:)))
    }

    /// Whole seconds for a log line; claims are untrusted, so out-of-range values print as they are instead of trapping.
    private static func seconds(_ value: Double) -> String {
        if let whole = Int64(exactly: value.rounded(.down)) { return String(whole) }
        return String(describing: value)
    }

    /// An algorithm name fit for a log line: short and plain, else a placeholder.
    private static func printable(_ alg: String) -> String {
        alg.count <= 16 && alg.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F } ? "'\(alg)'" : "<unprintable>"
    }
}

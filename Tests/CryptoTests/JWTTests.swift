import ResolverCrypto
import Foundation
import Testing

@Suite("JWT signing, verification and attacks")
struct JWTTests {
    let keys = KeyMaterial.shared
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func segment(_ json: String) -> String { Base64URL.encode(Array(json.utf8)) }

    func rsaToken(_ claims: some Encodable) throws -> String {
        try JWTSigner(key: RSASigner(privateKeyPEM: keys.rsaPrivatePKCS8)).sign(claims)
    }

    func rs256Verifier(issuer: String? = nil, audience: String? = nil, leeway: TimeInterval = 60) throws -> JWTVerifier {
        JWTVerifier(key: try SignatureVerifier.rs256(publicKeyPEM: keys.rsaPublic), issuer: issuer, audience: audience, leeway: leeway)
    }

    func code(_ body: () throws -> Void) -> JWTError.Code? {
        do {
            try body()
            return nil
        } catch {
            return (error as? JWTError)?.code
        }
    }

    struct SessionClaims: Encodable {
        var sub: String? = "u_123"
        var workspace: String? = "w_9"
        var iss: String? = "https://app.example"
        var aud: [String]? = ["resolverd", "other"]
        var exp: Int? = 1_800_000_300
        var nbf: Int? = nil
        var iat: Int? = 1_800_000_000
    }

    @Test func validRS256TokenReturnsClaims() throws {
        let token = try rsaToken(SessionClaims())
        let claims = try rs256Verifier(issuer: "https://app.example", audience: "resolverd").verify(token, now: now)
        #expect(claims.subject == "u_123")
        #expect(claims.workspace == "w_9")
        #expect(claims.issuer == "https://app.example")
        #expect(claims.audience == ["resolverd", "other"])
        #expect(claims.expiresAt == Date(timeIntervalSince1970: 1_800_000_300))
        #expect(claims.issuedAt == now)
    }

    @Test func gitHubAppTokenVerifiesWithOpenSSL() throws {
        let claims = JWTRegisteredClaims(issuer: "12345", issuedAt: now.addingTimeInterval(-60), expiresAt: now.addingTimeInterval(540))
        let token = try rsaToken(claims)
        let parts = token.split(separator: ".").map(String.init)
        #expect(parts.count == 3)
        #expect(Base64URL.decode(parts[0]).map { String(decoding: $0, as: UTF8.self) } == #"{"alg":"RS256","typ":"JWT"}"#)
        #expect(Base64URL.decode(parts[1]).map { String(decoding: $0, as: UTF8.self) } == #"{"exp":1800000540,"iat":1799999940,"iss":"12345"}"#)
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("input", Array((parts[0] + "." + parts[1]).utf8))
        try directory.write("sig", try #require(Base64URL.decode(parts[2])))
        let output = try openssl([
            "dgst", "-sha256", "-verify", try keys.file(keys.rsaPublic, named: "rsa.pub", in: directory), "-signature", directory.file("sig"),
            directory.file("input"),
        ])
        #expect(String(decoding: output, as: UTF8.self).contains("Verified OK"))
    }

    @Test func algNoneIsRefused() throws {
        let verifier = try rs256Verifier()
        let payload = segment(#"{"sub":"admin","exp":1900000000}"#)
        for header in [#"{"alg":"none"}"#, #"{"alg":"None"}"#, #"{"alg":"NONE","typ":"JWT"}"#] {
            #expect(code { _ = try verifier.verify(segment(header) + "." + payload + ".", now: now) } != nil)
            #expect(code { _ = try verifier.verify(segment(header) + "." + payload + ".AAAA", now: now) } == .algorithmNotAllowed)
        }
        #expect(code { _ = try verifier.verify(segment(#"{"typ":"JWT"}"#) + "." + payload + ".AAAA", now: now) } == .malformed)
    }

    @Test func hs256SignedWithTheRSAPublicKeyIsRefused() throws {
        let verifier = try rs256Verifier()
        let input = segment(#"{"alg":"HS256","typ":"JWT"}"#) + "." + segment(#"{"sub":"admin","exp":1900000000}"#)
        for secret in [keys.rsaPublic, keys.rsaPublic.trimmingCharacters(in: .whitespacesAndNewlines)] {
            let mac = HMACSHA256.authenticationCode(for: Array(input.utf8), key: Array(secret.utf8))
            #expect(code { _ = try verifier.verify(input + "." + Base64URL.encode(mac), now: now) } == .algorithmNotAllowed)
        }
    }

    @Test func hs256WithASharedSecretWorksAndES256HeaderIsRefused() throws {
        let secret = Array("a-shared-session-secret-of-32-bytes!".utf8)
        let verifier = JWTVerifier(key: try SignatureVerifier.hs256(secret: secret))
        let input = segment(#"{"alg":"HS256","typ":"JWT"}"#) + "." + segment(#"{"sub":"u_1","exp":1800000100}"#)
        let token = input + "." + Base64URL.encode(HMACSHA256.authenticationCode(for: Array(input.utf8), key: secret))
        #expect(try verifier.verify(token, now: now).subject == "u_1")
        let other = segment(#"{"alg":"ES256"}"#) + "." + segment(#"{"sub":"u_1","exp":1800000100}"#) + ".AAAA"
        #expect(code { _ = try verifier.verify(other, now: now) } == .algorithmNotAllowed)
    }

    @Test func es256TokenSignedByOpenSSLVerifies() throws {
        let input = segment(#"{"alg":"ES256","typ":"JWT"}"#) + "." + segment(#"{"sub":"u_ec","exp":1800000100}"#)
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("input", Array(input.utf8))
        try openssl([
            "dgst", "-sha256", "-sign", try keys.file(keys.ecPrivate, named: "ec.pem", in: directory), "-out", directory.file("sig"),
            directory.file("input"),
        ])
        let der = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory.file("sig"))))
        let raw = try #require(rawECDSASignature(fromDER: der))
        let verifier = JWTVerifier(key: try SignatureVerifier(publicKeyPEM: keys.ecPublic))
        #expect(try verifier.verify(input + "." + Base64URL.encode(raw), now: now).subject == "u_ec")
        #expect(code { _ = try verifier.verify(input + "." + Base64URL.encode(der), now: now) } == .invalidSignature)
        #expect(code { _ = try rs256Verifier().verify(input + "." + Base64URL.encode(raw), now: now) } == .algorithmNotAllowed)
    }

    @Test func expiryAndNotBeforeRespectLeeway() throws {
        let verifier = try rs256Verifier(leeway: 60)
        var claims = SessionClaims()
        claims.exp = 1_800_000_000 - 30  // expired 30 s ago: inside the leeway
        #expect(try verifier.verify(rsaToken(claims), now: now).subject == "u_123")
        claims.exp = 1_800_000_000 - 61
        #expect(code { _ = try verifier.verify(try rsaToken(claims), now: now) } == .expired)
        #expect(code { _ = try rs256Verifier(leeway: 0).verify(try rsaToken(SessionClaims(exp: 1_800_000_000)), now: now) } == .expired)

        claims = SessionClaims(nbf: 1_800_000_000 + 50)
        #expect(try verifier.verify(rsaToken(claims), now: now).subject == "u_123")
        claims.nbf = 1_800_000_000 + 120
        #expect(code { _ = try verifier.verify(try rsaToken(claims), now: now) } == .notYetValid)
        #expect(code { _ = try verifier.verify(try rsaToken(SessionClaims(exp: nil)), now: now) } == .missingExpiration)
    }

    @Test func issuerAudienceAndSubjectAreChecked() throws {
        let token = try rsaToken(SessionClaims())
        #expect(code { _ = try rs256Verifier(issuer: "https://evil.example").verify(token, now: now) } == .issuerMismatch)
        #expect(code { _ = try rs256Verifier(audience: "billing").verify(token, now: now) } == .audienceMismatch)
        #expect(code { _ = try rs256Verifier(audience: "resolverd").verify(try rsaToken(SessionClaims(aud: nil)), now: now) } == .audienceMismatch)
        #expect(code { _ = try rs256Verifier(issuer: "x").verify(try rsaToken(SessionClaims(iss: nil)), now: now) } == .issuerMismatch)
        #expect(code { _ = try rs256Verifier().verify(try rsaToken(SessionClaims(sub: nil)), now: now) } == .missingSubject)
        #expect(code { _ = try rs256Verifier().verify(try rsaToken(SessionClaims(sub: "")), now: now) } == .missingSubject)

        struct StringAudience: Encodable {
            let sub = "u_1"
            let aud = "resolverd"
            let exp = 1_800_000_100
        }
        #expect(try rs256Verifier(audience: "resolverd").verify(rsaToken(StringAudience()), now: now).audience == ["resolverd"])
    }

    @Test func tamperedPayloadIsRefused() throws {
        let parts = try rsaToken(SessionClaims()).split(separator: ".").map(String.init)
        let forged = segment(#"{"sub":"admin","exp":1900000000}"#)
        #expect(code { _ = try rs256Verifier().verify(parts[0] + "." + forged + "." + parts[2], now: now) } == .invalidSignature)
        var signature = try #require(Base64URL.decode(parts[2]))
        signature[0] ^= 1
        #expect(code { _ = try rs256Verifier().verify(parts[0] + "." + parts[1] + "." + Base64URL.encode(signature), now: now) } == .invalidSignature)
    }

    @Test func malformedTokensAreRefused() throws {
        let verifier = try rs256Verifier()
        let good = try rsaToken(SessionClaims())
        let parts = good.split(separator: ".").map(String.init)
        let malformed = [
            "", ".", "..", "a.b", "a.b.c.d", parts[0] + "." + parts[1], parts[0] + ".." + parts[2],
            "!!!." + parts[1] + "." + parts[2], parts[0] + "=." + parts[1] + "." + parts[2],
            segment("not json") + "." + parts[1] + "." + parts[2], segment("[1,2]") + "." + parts[1] + "." + parts[2],
            good + ".", String(repeating: "a", count: 20_000),
        ]
        for token in malformed {
            #expect(code { _ = try verifier.verify(token, now: now) } == .malformed)
        }
        let badClaims = segment(#"{"alg":"RS256"}"#) + "." + segment(#"{"sub":42,"exp":"soon"}"#)
        #expect(code { _ = try verifier.verify(badClaims + "." + parts[2], now: now) } == .invalidSignature)
    }

    @Test func errorsDoNotEchoTheToken() throws {
        let token = try rsaToken(SessionClaims(sub: "SUBJECT-MARKER", exp: 1))
        do {
            _ = try rs256Verifier().verify(token, now: now)
            Issue.record("expired token accepted")
        } catch {
            let text = "\(error) \(String(reflecting: error))"
            #expect(!text.contains("SUBJECT-MARKER"))
            #expect(!text.contains(token.prefix(20)))
        }
    }
}

extension JWTTests {
    @Test func absurdTimesAreRefusedWithoutTrapping() throws {
        let input = segment(#"{"alg":"RS256"}"#) + "." + segment(#"{"sub":"u_1","exp":1e300,"nbf":1e300}"#)
        let signature = try RSASigner(privateKeyPEM: keys.rsaPrivatePKCS8).signature(for: Array(input.utf8))
        #expect(code { _ = try rs256Verifier().verify(input + "." + Base64URL.encode(signature), now: now) } == .notYetValid)
        let past = segment(#"{"alg":"RS256"}"#) + "." + segment(#"{"sub":"u_1","exp":-1e300}"#)
        let pastSignature = try RSASigner(privateKeyPEM: keys.rsaPrivatePKCS8).signature(for: Array(past.utf8))
        #expect(code { _ = try rs256Verifier().verify(past + "." + Base64URL.encode(pastSignature), now: now) } == .expired)
    }
}

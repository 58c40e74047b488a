import ResolverCrypto
import Foundation
import Testing

@Suite("RS256 / ES256 / HS256 signatures, cross-checked with the openssl CLI")
struct SignatureTests {
    let keys = KeyMaterial.shared
    let message = Array("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxMjM0NSJ9".utf8)

    @Test("an RS256 signature made here verifies with openssl dgst", arguments: ["pkcs8", "pkcs1"])
    func signedHereVerifiesWithOpenSSL(format: String) throws {
        let pem = format == "pkcs8" ? keys.rsaPrivatePKCS8 : keys.rsaPrivatePKCS1
        let signature = try RSASigner(privateKeyPEM: pem).signature(for: message)
        #expect(signature.count == 256)
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("data", message)
        try directory.write("sig", signature)
        let output = try openssl([
            "dgst", "-sha256", "-verify", try keys.file(keys.rsaPublic, named: "rsa.pub", in: directory), "-signature", directory.file("sig"),
            directory.file("data"),
        ])
        #expect(String(decoding: output, as: UTF8.self).contains("Verified OK"))
        // And our own verifier agrees.
        #expect(try SignatureVerifier.rs256(publicKeyPEM: keys.rsaPublic).isValidSignature(signature, for: message))
    }

    @Test func rs256MadeByOpenSSLVerifiesHere() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("data", message)
        try openssl([
            "dgst", "-sha256", "-sign", try keys.file(keys.rsaPrivatePKCS8, named: "rsa.pem", in: directory), "-out", directory.file("sig"),
            directory.file("data"),
        ])
        let signature = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory.file("sig"))))
        let verifier = try SignatureVerifier(publicKeyPEM: keys.rsaPublic)
        #expect(verifier.algorithm == .rs256)
        #expect(verifier.isValidSignature(signature, for: message))
        var tampered = signature
        tampered[10] ^= 0x01
        #expect(!verifier.isValidSignature(tampered, for: message))
        #expect(!verifier.isValidSignature(signature, for: message + [0]))
        #expect(!verifier.isValidSignature([UInt8](), for: message))
    }

    @Test func es256MadeByOpenSSLVerifiesHere() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("data", message)
        try openssl([
            "dgst", "-sha256", "-sign", try keys.file(keys.ecPrivate, named: "ec.pem", in: directory), "-out", directory.file("sig.der"),
            directory.file("data"),
        ])
        let der = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory.file("sig.der"))))
        let raw = try #require(rawECDSASignature(fromDER: der))
        #expect(raw.count == 64)
        let verifier = try SignatureVerifier.es256(publicKeyPEM: keys.ecPublic)
        #expect(verifier.algorithm == .es256)
        #expect(verifier.isValidSignature(raw, for: message))
        // JWS carries raw r ‖ s; the DER form and tampered values are refused.
        #expect(!verifier.isValidSignature(der, for: message))
        var tampered = raw
        tampered[40] ^= 0x80
        #expect(!verifier.isValidSignature(tampered, for: message))
        #expect(!verifier.isValidSignature(raw, for: Array("other".utf8)))
    }

    @Test func hs256() throws {
        let secret = [UInt8](repeating: 0x5a, count: 32)
        let verifier = try SignatureVerifier.hs256(secret: secret)
        let mac = HMACSHA256.authenticationCode(for: message, key: secret)
        #expect(verifier.isValidSignature(mac, for: message))
        #expect(!verifier.isValidSignature(mac.dropLast(), for: message))
        #expect(throws: CryptoError.self) { try SignatureVerifier.hs256(secret: [UInt8](repeating: 1, count: 16)) }
    }

    @Test func keyTypesAreChecked() throws {
        #expect { try SignatureVerifier.rs256(publicKeyPEM: keys.ecPublic) } throws: { ($0 as? CryptoError)?.code == .unsupportedKeyType }
        #expect { try SignatureVerifier.es256(publicKeyPEM: keys.rsaPublic) } throws: { ($0 as? CryptoError)?.code == .unsupportedKeyType }
        #expect { try RSASigner(privateKeyPEM: keys.ecPrivate) } throws: { ($0 as? CryptoError)?.code == .unsupportedKeyType }
        #expect { try RSASigner(privateKeyPEM: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n") } throws: {
            ($0 as? CryptoError)?.code == .invalidPEM
        }
        #expect { try SignatureVerifier(publicKeyPEM: keys.rsaPrivatePKCS8) } throws: { ($0 as? CryptoError)?.code == .invalidPEM }
    }

    @Test func encryptedAndSmallKeysAreRefusedWithoutPrompting() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try openssl([
            "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-aes-256-cbc", "-pass", "pass:resolverd-test",
            "-out", directory.file("enc.pem"),
        ])
        let encrypted = try String(contentsOfFile: directory.file("enc.pem"), encoding: .utf8)
        let failure = #expect(throws: CryptoError.self) { try RSASigner(privateKeyPEM: encrypted) }
        #expect(failure?.code == .invalidPEM)
        #expect(!String(reflecting: failure).contains("BEGIN"))

        try openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", directory.file("small.pem")])
        let small = try String(contentsOfFile: directory.file("small.pem"), encoding: .utf8)
        #expect { try RSASigner(privateKeyPEM: small) } throws: { ($0 as? CryptoError)?.code == .unsupportedKeyType }
    }
}

public import Foundation

/// Verifies JWS signatures: RS256 or ES256 from a PEM public key, HS256 from a shared secret.
///
/// The key decides the algorithm; a token's header never does.
public struct SignatureVerifier: Sendable {
    /// The JWS algorithms resolverd verifies.
    public enum Algorithm: String, Sendable, Hashable {
        /// RSASSA-PKCS1-v1_5 with SHA-256.
        case rs256 = "RS256"
        /// ECDSA on P-256 with SHA-256, raw r ‖ s signatures.
        case es256 = "ES256"
        /// HMAC-SHA256 with a shared secret.
        case hs256 = "HS256"
    }

    enum Material: Sendable {
        case publicKey(EVPKey)
        case secret(SymmetricKey)
    }

    /// The one algorithm this verifier accepts.
    public let algorithm: Algorithm
    let material: Material

    /// A verifier for a PEM public key (`BEGIN PUBLIC KEY`): RS256 for RSA keys, ES256 for P-256 keys.
    public init(publicKeyPEM: String) throws {
        let key = try EVPKey.publicKey(pem: publicKeyPEM)
        if key.isA("RSA") {
            guard key.bits >= RSASigner.minimumBits else {
                throw CryptoError(.unsupportedKeyType, detail: "RSA key has \(key.bits) bits, need at least \(RSASigner.minimumBits)")
            }
            algorithm = .rs256
        } else if key.isA("EC"), key.curveName == "prime256v1" {
            algorithm = .es256
        } else {
            throw CryptoError(.unsupportedKeyType, detail: "public key is neither RSA nor EC P-256")
        }
        material = .publicKey(key)
    }

    /// A verifier that accepts only RS256 with this RSA public key.
    public static func rs256(publicKeyPEM: String) throws -> SignatureVerifier {
        let verifier = try SignatureVerifier(publicKeyPEM: publicKeyPEM)
        guard verifier.algorithm == .rs256 else { throw CryptoError(.unsupportedKeyType, detail: "RS256 needs an RSA public key") }
        return verifier
    }

    /// A verifier that accepts only ES256 with this P-256 public key.
    public static func es256(publicKeyPEM: String) throws -> SignatureVerifier {
        let verifier = try SignatureVerifier(publicKeyPEM: publicKeyPEM)
        guard verifier.algorithm == .es256 else { throw CryptoError(.unsupportedKeyType, detail: "ES256 needs a P-256 public key") }
        return verifier
    }

    /// A verifier that accepts only HS256 with this secret (at least 32 bytes, as RFC 7518 requires).
    public static func hs256(secret: some ContiguousBytes) throws -> SignatureVerifier {
        let key = SymmetricKey(data: secret)
        guard key.bitCount >= 256 else { throw CryptoError(.invalidKeySize, detail: "an HS256 secret needs at least 32 bytes") }
        return SignatureVerifier(algorithm: .hs256, material: .secret(key))
    }

    private init(algorithm: Algorithm, material: Material) {
        self.algorithm = algorithm
        self.material = material
    }

    /// True when `signature` (JWS form: raw r ‖ s for ES256) signs `message` with this key and algorithm.
    @inlinable
    public func isValidSignature(_ signature: some ContiguousBytes, for message: some ContiguousBytes) -> Bool {
        signature.withUnsafeBytes { signature in message.withUnsafeBytes { verifyBytes(signature, message: $0) } }
    }

    @usableFromInline
    func verifyBytes(_ signature: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) -> Bool {
        switch (algorithm, material) {
        case (.hs256, .secret(let key)):
            let expected = key.withUnsafeBytes { HMACSHA256.macBytes(message, key: $0) }
            return expected.withUnsafeBytes { ConstantTime.equalBytes($0, signature) }
        case (.rs256, .publicKey(let key)):
            return DigestSignature.verify(signature, message: message, key: key)
        case (.es256, .publicKey(let key)):
            guard let der = ECDSASignatureEncoding.der(fromRaw: signature, width: 32) else { return false }
            return der.withUnsafeBytes { DigestSignature.verify($0, message: message, key: key) }
        default:
            return false
        }
    }
}

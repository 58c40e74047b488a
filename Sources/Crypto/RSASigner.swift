public import Foundation

/// Signs with RS256 (RSASSA-PKCS1-v1_5 over SHA-256), as GitHub App JWTs require.
public struct RSASigner: Sendable {
    /// The smallest RSA modulus accepted, in bits.
    public static let minimumBits = 2048

    let key: EVPKey

    /// Loads an RSA private key from PEM (PKCS#1 `BEGIN RSA PRIVATE KEY` or PKCS#8 `BEGIN PRIVATE KEY`).
    public init(privateKeyPEM: String) throws {
        let key = try EVPKey.privateKey(pem: privateKeyPEM)
        guard key.isA("RSA") else { throw CryptoError(.unsupportedKeyType, detail: "RS256 needs an RSA private key") }
        guard key.bits >= Self.minimumBits else {
            throw CryptoError(.unsupportedKeyType, detail: "RSA key has \(key.bits) bits, need at least \(Self.minimumBits)")
        }
        self.key = key
    }

    /// The RS256 signature of `message`.
    @inlinable
    public func signature(for message: some ContiguousBytes) throws -> [UInt8] {
        try message.withUnsafeBytes { try signBytes($0) }
    }

    @usableFromInline
    func signBytes(_ message: UnsafeRawBufferPointer) throws -> [UInt8] {
        try DigestSignature.sign(message, key: key)
    }
}

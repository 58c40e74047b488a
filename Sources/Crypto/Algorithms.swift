import CLibCrypto

/// OpenSSL algorithm objects fetched once: an implicit fetch on every call costs more than a whole 256-byte seal.
final class Algorithms: @unchecked Sendable {
    // Safe to share: fetched EVP_CIPHER/EVP_MD/EVP_MAC objects are immutable and OpenSSL documents them as thread-safe;
    // they are never freed (they live as long as the process).
    static let shared = Algorithms()

    let aes256GCM: OpaquePointer
    let sha256: OpaquePointer
    let hmac: OpaquePointer?

    private init() {
        aes256GCM = EVP_CIPHER_fetch(nil, "AES-256-GCM", nil) ?? EVP_aes_256_gcm()
        sha256 = EVP_MD_fetch(nil, "SHA256", nil) ?? EVP_sha256()
        hmac = EVP_MAC_fetch(nil, "HMAC", nil)
    }
}

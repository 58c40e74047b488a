import ResolverCrypto

/// Unguessable strings for codes, tokens and secrets, from the repository's CSPRNG.
enum RandomToken {
    /// `prefix` followed by `byteCount` random bytes as unpadded base64url.
    static func make(prefix: String, byteCount: Int = 24) -> String {
        prefix + Base64URL.encode(randomBytes(byteCount))
    }

    /// `byteCount` random bytes as lowercase hex.
    static func hex(byteCount: Int) -> String {
        Hex.encode(randomBytes(byteCount))
    }

    private static func randomBytes(_ count: Int) -> [UInt8] {
        // RAND_bytes only fails when the system has no entropy source; a fake cannot answer sensibly without one.
        guard let bytes = try? SecureRandom.bytes(count: count) else { fatalError("the CSPRNG is unavailable") }
        return bytes
    }
}

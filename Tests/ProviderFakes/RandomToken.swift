import ResolverCrypto

/// Unguessable strings for codes, tokens and secrets, from the repository's CSPRNG. Unless told they are not
/// secret (an account id, a trace id), each is given to ``TestSecrets`` so no daemon log may contain it.
enum RandomToken {
    /// `prefix` followed by `byteCount` random bytes as unpadded base64url.
    static func make(prefix: String, byteCount: Int = 24, secret: Bool = true) -> String {
        remember(prefix + Base64URL.encode(randomBytes(byteCount)), secret: secret)
    }

    /// `byteCount` random bytes as lowercase hex.
    static func hex(byteCount: Int, secret: Bool = true) -> String {
        remember(Hex.encode(randomBytes(byteCount)), secret: secret)
    }

    private static func remember(_ token: String, secret: Bool) -> String {
        if secret { TestSecrets.shared.given(token) }
        return token
    }

    private static func randomBytes(_ count: Int) -> [UInt8] {
        // RAND_bytes only fails when the system has no entropy source; a fake cannot answer sensibly without one.
        guard let bytes = try? SecureRandom.bytes(count: count) else { fatalError("the CSPRNG is unavailable") }
        return bytes
    }
}

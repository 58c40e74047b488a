import ResolverCrypto

/// Proof Key for Code Exchange (RFC 7636), S256 only.
enum PKCE {
    /// True when `verifier` is well formed (§4.1) and `BASE64URL(SHA256(verifier))` equals `challenge` (§4.6).
    static func verifies(_ verifier: String, challenge: String) -> Bool {
        guard (43...128).contains(verifier.utf8.count), verifier.utf8.allSatisfy(isUnreserved) else { return false }
        let derived = Base64URL.encode(SHA256.hash(Array(verifier.utf8)))
        return ConstantTime.equals(Array(derived.utf8), Array(challenge.utf8))
    }

    /// True for what an S256 challenge looks like: 43 base64url characters.
    static func isWellFormedChallenge(_ challenge: String) -> Bool {
        challenge.utf8.count == 43 && Base64URL.decode(challenge)?.count == SHA256.byteCount
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"): true
        default: false
        }
    }
}

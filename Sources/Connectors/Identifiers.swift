import ResolverCrypto

/// Random, unguessable identifiers with a type prefix: `ct_` connectors, `gr_` grants, `ak_` API keys.
public enum Identifiers {
    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    /// `prefix` followed by 26 base32 characters (130 random bits).
    public static func make(prefix: String) throws -> String {
        let bytes = try SecureRandom.bytes(count: 17)
        var text = prefix
        text.reserveCapacity(prefix.utf8.count + 26)
        var buffer: UInt32 = 0
        var bits = 0
        var produced = 0
        for byte in bytes where produced < 26 {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 && produced < 26 {
                bits -= 5
                text.unicodeScalars.append(Unicode.Scalar(alphabet[Int((buffer >> UInt32(bits)) & 31)]))
                produced += 1
            }
        }
        return text
    }
}

/// The user ids resolverd accepts, from any caller: 1 to 256 characters and no control characters (PostgreSQL's
/// text cannot hold NUL, and one such id in a batched read would fail every key in the statement).
public enum UserIDs {
    public static let rule = "1-256 characters, none of them control characters"

    public static func isValid(_ id: String) -> Bool {
        !id.isEmpty && !id.utf8.contains { $0 < 0x20 || $0 == 0x7F } && id.unicodeScalars.count <= 256
    }
}

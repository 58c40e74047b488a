public import Foundation

/// Unpadded base64url (RFC 4648 §5), as JWTs use it.
public enum Base64URL {
    /// `bytes` as unpadded base64url.
    @inlinable
    public static func encode(_ bytes: some ContiguousBytes) -> String {
        bytes.withUnsafeBytes { encodeBytes($0) }
    }

    /// The bytes of unpadded base64url text; nil on padding, a foreign character or non-canonical trailing bits.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        Base64.decode(Array(text.utf8), alphabet: .url, padding: false)
    }

    @usableFromInline
    static func encodeBytes(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: Base64.encode(bytes, alphabet: .url, padded: false), as: UTF8.self)
    }
}

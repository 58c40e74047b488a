/// The stored form of a keyring value: version ‖ id length ‖ key id ‖ nonce (12) ‖ ciphertext ‖ tag (16).
enum SealedValue {
    /// The only format written and read so far.
    static let version: UInt8 = 1

    /// The header that starts every value sealed under `keyID`.
    static func header(keyID: String) -> [UInt8] {
        let id = Array(keyID.utf8)
        return [version, UInt8(id.count)] + id
    }

    /// Where the key id sits in `value`, after checking version and lengths; the rest starts after it.
    static func keyIDRange(in value: UnsafeRawBufferPointer) throws -> Range<Int> {
        guard value.count >= 2 else { throw CryptoError(.truncatedValue, detail: "value shorter than its header") }
        guard value[0] == version else {
            throw CryptoError(.unsupportedVersion, detail: "format version \(value[0]), this build reads \(version)")
        }
        let idLength = Int(value[1])
        guard idLength > 0, idLength <= KeyID.maxLength else {
            throw CryptoError(.invalidKeyID, detail: "key id length \(idLength) out of range")
        }
        guard value.count >= 2 + idLength + AES.GCM.SealedBox.overhead else {
            throw CryptoError(.truncatedValue, detail: "value shorter than header, nonce and tag")
        }
        return 2..<(2 + idLength)
    }

    /// The key id printed for operators: only when it uses the allowed characters.
    static func printableID(_ bytes: UnsafeRawBufferPointer) -> String {
        KeyID.isValid(Array(bytes)) ? String(decoding: bytes, as: UTF8.self) : "<\(bytes.count) bytes, invalid>"
    }
}

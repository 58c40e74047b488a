/// Converts JOSE's raw ECDSA signatures (r ‖ s, fixed width) to the DER `SEQUENCE { INTEGER r, INTEGER s }` OpenSSL takes.
enum ECDSASignatureEncoding {
    /// DER for a raw signature of two `width`-byte integers; nil when the length is wrong.
    static func der(fromRaw raw: UnsafeRawBufferPointer, width: Int) -> [UInt8]? {
        guard raw.count == 2 * width else { return nil }
        let r = integer(Array(raw[0..<width]))
        let s = integer(Array(raw[width..<(2 * width)]))
        let body = r + s
        // P-256 bodies stay under 128 bytes, so the short length form always applies.
        guard body.count < 128 else { return nil }
        return [0x30, UInt8(body.count)] + body
    }

    /// One DER INTEGER: leading zeros stripped, a zero prepended when the top bit is set (it is unsigned).
    private static func integer(_ bytes: [UInt8]) -> [UInt8] {
        var value = ArraySlice(bytes.drop { $0 == 0 })
        if value.isEmpty { value = [0] }
        if value.first! & 0x80 != 0 { value.insert(0, at: value.startIndex) }
        return [0x02, UInt8(value.count)] + value
    }
}

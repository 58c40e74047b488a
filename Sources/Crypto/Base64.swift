/// Base64 (RFC 4648) for key files and JWTs, written so secret input can be wiped afterwards.
enum Base64 {
    enum Alphabet { case standard, url }

    private static let standardTable = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlTable = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Encodes `bytes`; `padded` adds `=` to a multiple of four characters.
    static func encode(_ bytes: some Collection<UInt8>, alphabet: Alphabet, padded: Bool) -> [UInt8] {
        let table = alphabet == .standard ? standardTable : urlTable
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var iterator = bytes.makeIterator()
        while let a = iterator.next() {
            let b = iterator.next()
            let c = iterator.next()
            let word = UInt32(a) << 16 | UInt32(b ?? 0) << 8 | UInt32(c ?? 0)
            out.append(table[Int(word >> 18 & 63)])
            out.append(table[Int(word >> 12 & 63)])
            if b != nil { out.append(table[Int(word >> 6 & 63)]) } else if padded { out.append(UInt8(ascii: "=")) }
            if c != nil { out.append(table[Int(word & 63)]) } else if padded { out.append(UInt8(ascii: "=")) }
        }
        return out
    }

    /// Decodes `text`; nil on a character outside the alphabet, a bad length or non-zero trailing bits.
    /// `padding` nil accepts padded or unpadded input; true requires it; false forbids it.
    static func decode(_ text: some Collection<UInt8>, alphabet: Alphabet, padding: Bool? = nil) -> [UInt8]? {
        var body = Array(text)
        defer { wipe(&body) }
        var pad = 0
        while body.last == UInt8(ascii: "=") && pad < 2 {
            body.removeLast()
            pad += 1
        }
        if padding == false && pad > 0 { return nil }
        if pad > 0 && (body.count + pad) % 4 != 0 { return nil }
        if padding == true && body.count % 4 != 0 && pad == 0 { return nil }
        if body.count % 4 == 1 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(body.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for character in body {
            guard let value = sextet(character, alphabet) else {
                wipe(&out)
                return nil
            }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // Leftover bits must be zero so each byte string has exactly one encoding.
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else {
            wipe(&out)
            return nil
        }
        accumulator = 0
        return out
    }

    private static func sextet(_ character: UInt8, _ alphabet: Alphabet) -> UInt8? {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): character - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): character - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+") where alphabet == .standard: 62
        case UInt8(ascii: "/") where alphabet == .standard: 63
        case UInt8(ascii: "-") where alphabet == .url: 62
        case UInt8(ascii: "_") where alphabet == .url: 63
        default: nil
        }
    }
}

/// Overwrites a byte array's storage with zeros in a way the optimizer keeps.
func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { buffer in
        if let base = buffer.baseAddress { secureZero(base, buffer.count) }
    }
}

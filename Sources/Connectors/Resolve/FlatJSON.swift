/// Reads the small flat objects the resolver receives (`{"provider": "…", "user_id": "…", "min_valid_seconds": 60}`)
/// without a general-purpose decoder. It accepts only string, integer, boolean and null members; anything else
/// (nesting, fractions, odd escapes) returns nil and the caller falls back to `JSONDecoder`, which also words
/// the errors.
public struct FlatJSON {
    public enum Value: Equatable {
        case string(String)
        case integer(Int)
        case other
    }

    /// Reads `bytes` as one flat object and calls `member` with each member's key (unescaped UTF-8, valid only
    /// during the call) and value, in order. Returns false for anything else, or once `member` returns false;
    /// `member` may have been called for some members by then.
    ///
    /// Works in place: no copy of the input, no allocation for keys or for strings short enough to be stored
    /// inline. A key seen twice returns false: duplicates are left to the full decoder to judge.
    public static func parse(_ bytes: UnsafeRawBufferPointer, member: (UnsafeRawBufferPointer, Value) -> Bool) -> Bool {
        var reader = Reader(bytes: bytes)
        reader.skipSpace()
        guard reader.take(UInt8(ascii: "{")) else { return false }
        var keys: [Text] = []
        reader.skipSpace()
        if !reader.take(UInt8(ascii: "}")) {
            while true {
                reader.skipSpace()
                guard let key = reader.text(), key.isValidUTF8(in: bytes) else { return false }
                guard !keys.contains(where: { $0.equals(key, in: bytes) }) else { return false }
                keys.append(key)
                reader.skipSpace()
                guard reader.take(UInt8(ascii: ":")) else { return false }
                reader.skipSpace()
                guard let value = reader.value(), key.withBytes(in: bytes, { member($0, value) }) else { return false }
                reader.skipSpace()
                if reader.take(UInt8(ascii: ",")) { continue }
                guard reader.take(UInt8(ascii: "}")) else { return false }
                break
            }
        }
        reader.skipSpace()
        return reader.position == bytes.count
    }

    /// A string's contents: a range of the input when it has no escapes, else the unescaped bytes.
    private enum Text {
        case slice(Range<Int>)
        case unescaped([UInt8])

        func withBytes<Result>(in input: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
            switch self {
            case .slice(let range): body(UnsafeRawBufferPointer(rebasing: input[range]))
            case .unescaped(let bytes): bytes.withUnsafeBytes(body)
            }
        }

        func equals(_ other: Text, in input: UnsafeRawBufferPointer) -> Bool {
            withBytes(in: input) { mine in other.withBytes(in: input) { $0.elementsEqual(mine) } }
        }

        func isValidUTF8(in input: UnsafeRawBufferPointer) -> Bool {
            withBytes(in: input) { bytes in bytes.allSatisfy { $0 < 0x80 } || String(validating: bytes, as: UTF8.self) != nil }
        }

        func string(in input: UnsafeRawBufferPointer) -> String? {
            withBytes(in: input) { String(validating: $0, as: UTF8.self) }
        }
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var position = 0

        var next: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func take(_ byte: UInt8) -> Bool {
            guard next == byte else { return false }
            position += 1
            return true
        }

        mutating func skipSpace() {
            while let byte = next, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
        }

        /// A string; nil for `\u` escapes (the full decoder handles them), control characters or no end.
        mutating func text() -> Text? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = position
            var unescaped: [UInt8]?
            while let byte = next {
                position += 1
                switch byte {
                case UInt8(ascii: "\""):
                    guard let unescaped else { return .slice(start..<position - 1) }
                    return .unescaped(unescaped)
                case UInt8(ascii: "\\"):
                    if unescaped == nil { unescaped = Array(bytes[start..<position - 1]) }
                    guard let escaped = next else { return nil }
                    position += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): unescaped?.append(escaped)
                    case UInt8(ascii: "n"): unescaped?.append(0x0A)
                    case UInt8(ascii: "t"): unescaped?.append(0x09)
                    case UInt8(ascii: "r"): unescaped?.append(0x0D)
                    default: return nil
                    }
                case 0..<0x20: return nil
                default: unescaped?.append(byte)
                }
            }
            return nil
        }

        /// A string, an integer (JSON's form: no leading zero, no plus sign), or true, false or null.
        mutating func value() -> Value? {
            guard let first = next else { return nil }
            switch first {
            case UInt8(ascii: "\""):
                return text()?.string(in: bytes).map(Value.string)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let negative = take(UInt8(ascii: "-"))
                let start = position
                var magnitude = 0
                while let byte = next, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                    let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
                    let (sum, overflow2) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
                    guard !overflow1 && !overflow2 else { return nil }
                    magnitude = sum
                    position += 1
                }
                let digits = position - start
                guard digits > 0, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
                if let byte = next, byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") { return nil }
                return .integer(negative ? -magnitude : magnitude)
            case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
                for literal in ["true", "false", "null"] where bytes[position...].starts(with: literal.utf8) {
                    position += literal.utf8.count
                    return .other
                }
                return nil
            default:
                return nil
            }
        }
    }
}

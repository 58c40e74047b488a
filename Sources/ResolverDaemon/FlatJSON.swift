/// Reads the small flat objects the resolver receives (`{"provider": "…", "user_id": "…", "min_valid_seconds": 60}`)
/// without a general-purpose decoder. It accepts only string, integer, boolean and null members; anything else
/// (nesting, fractions, odd escapes) returns nil and the caller falls back to `JSONDecoder`, which also words
/// the errors.
struct FlatJSON {
    enum Value: Equatable {
        case string(String)
        case integer(Int)
        case other
    }

    static func parse(_ bytes: some Collection<UInt8>) -> [String: Value]? {
        var input = Array(bytes)[...]
        func skipSpace() {
            while let byte = input.first, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { input.removeFirst() }
        }
        func string() -> String? {
            guard input.first == UInt8(ascii: "\"") else { return nil }
            input.removeFirst()
            var bytes: [UInt8] = []
            while let byte = input.popFirst() {
                switch byte {
                case UInt8(ascii: "\""): return String(validating: bytes, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard let escaped = input.popFirst() else { return nil }
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(escaped)
                    case UInt8(ascii: "n"): bytes.append(0x0A)
                    case UInt8(ascii: "t"): bytes.append(0x09)
                    case UInt8(ascii: "r"): bytes.append(0x0D)
                    default: return nil  // \u escapes and the rest: the full decoder handles them
                    }
                case 0..<0x20: return nil
                default: bytes.append(byte)
                }
            }
            return nil
        }
        skipSpace()
        guard input.popFirst() == UInt8(ascii: "{") else { return nil }
        var members: [String: Value] = [:]
        skipSpace()
        if input.first == UInt8(ascii: "}") {
            input.removeFirst()
        } else {
            while true {
                skipSpace()
                guard let key = string() else { return nil }
                skipSpace()
                guard input.popFirst() == UInt8(ascii: ":") else { return nil }
                skipSpace()
                let value: Value
                guard let first = input.first else { return nil }
                switch first {
                case UInt8(ascii: "\""):
                    guard let text = string() else { return nil }
                    value = .string(text)
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    var digits: [UInt8] = []
                    while let byte = input.first, byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                        digits.append(byte)
                        input.removeFirst()
                    }
                    guard let number = Int(String(decoding: digits, as: UTF8.self)) else { return nil }
                    value = .integer(number)
                case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
                    for literal in ["true", "false", "null"] where input.starts(with: literal.utf8) {
                        input.removeFirst(literal.utf8.count)
                        break
                    }
                    value = .other
                default:
                    return nil
                }
                guard members.updateValue(value, forKey: key) == nil else { return nil }  // duplicates: let the decoder judge
                skipSpace()
                switch input.popFirst() {
                case UInt8(ascii: ","): continue
                case UInt8(ascii: "}"): break
                default: return nil
                }
                break
            }
        }
        skipSpace()
        return input.isEmpty ? members : nil
    }
}

extension ResolveRequest {
    /// The request read by ``FlatJSON`` when it is the plain shape; nil sends the caller to `JSONDecoder`.
    static func fastParse(_ bytes: some Collection<UInt8>) -> ResolveRequest? {
        guard let members = FlatJSON.parse(bytes), case .string(let provider)? = members["provider"],
            case .string(let userID)? = members["user_id"]
        else { return nil }
        switch members["min_valid_seconds"] {
        case nil: return ResolveRequest(provider: provider, userID: userID, minValidSeconds: nil)
        case .integer(let seconds)?: return ResolveRequest(provider: provider, userID: userID, minValidSeconds: seconds)
        default: return nil
        }
    }
}

import HTTPTypes
import NIOHTTP1

/// `X-Reeve-Services-Token`, read alike from the router's fields and from the fast path's NIO headers: the value of
/// the one field of that name, in any case. Two such fields are refused (nil), as their joined value would be.
enum ServicesTokenHeader {
    static let name = HTTPField.Name("X-Reeve-Services-Token")!

    /// The token in the router's fields, found by a plain scan (the fields' subscript joins every value under the
    /// name through lazy sequences, which cost more than the rest of the check).
    static func token(in fields: HTTPFields) -> String? {
        token(in: fields) { ($0.name.canonicalName, $0.value) }
    }

    /// The token in the headers of a request the fast path holds.
    static func token(in headers: HTTPHeaders) -> String? {
        token(in: headers) { $0 }
    }

    private static let lowercaseName = Array(name.canonicalName.utf8)

    private static func token<Fields: Sequence>(in fields: Fields, _ field: (Fields.Element) -> (name: String, value: String)) -> String? {
        var token: String?
        for element in fields {
            let (fieldName, value) = field(element)
            guard isName(fieldName) else { continue }
            guard token == nil else { return nil }
            token = value
        }
        return token
    }

    private static func isName(_ candidate: String) -> Bool {
        guard candidate.utf8.count == lowercaseName.count else { return false }
        var index = 0
        for byte in candidate.utf8 {
            let folded = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
            guard folded == lowercaseName[index] else { return false }
            index += 1
        }
        return true
    }
}

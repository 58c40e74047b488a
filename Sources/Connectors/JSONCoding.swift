public import Foundation

/// The JSON coding of resolverd's own formats (API bodies, the config file, the catalog): snake-case field names and
/// RFC 3339 dates. Swift names keep their acronyms in capitals (`clientIDParam`, `docsURL`); both directions
/// spell them `client_id_param`, `docs_url`. `[String: …]` keys (settings, headers, values) are left as they are.
public enum JSONCoding {
    /// Writes `clientIDParam` as `client_id_param`; sorted keys, `/` unescaped.
    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// Reads `client_id_param` into `clientIDParam`. Foundation's `.convertFromSnakeCase` would look for
    /// `clientIdParam`, and would also read `clientIDParam` itself: here only the snake-case name is read.
    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .custom { path in FieldKey(swiftName(path.last?.stringValue ?? "")) }
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    /// The words Swift names write in capitals.
    static let acronyms: Set<Substring> = ["id", "url", "jwt", "ms"]

    /// `client_id_param` → `clientIDParam`. A name that is not lowercase words joined by single underscores is no
    /// field of these formats (`userID`, `user__id`): it becomes one no Swift name can be, so it is ignored as
    /// unknown fields are, rather than read as another spelling of a field.
    static func swiftName(_ wireName: String) -> String {
        let words = wireName.split(separator: "_", omittingEmptySubsequences: false)
        let isLowercaseWord = { (word: Substring) in
            !word.isEmpty && word.utf8.allSatisfy { (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) }
        }
        guard words.allSatisfy(isLowercaseWord) else { return "-" + wireName }
        var name = String(words[0])
        for word in words.dropFirst() {
            name += acronyms.contains(word) ? word.uppercased() : word.prefix(1).uppercased() + word.dropFirst()
        }
        return name
    }

    /// The name a field has in the JSON, for error messages (decoding errors carry Swift names): `clientIDParam` →
    /// `client_id_param`. A name with an underscore (a `[String: …]` key, say) is given as it is.
    public static func wireName(_ key: any CodingKey) -> String {
        let name = key.stringValue
        guard !name.contains("_") else { return name }
        let characters = Array(name)
        var result = ""
        for (index, character) in characters.enumerated() {
            if character.isUppercase && index > 0 {
                let afterLowercase = !characters[index - 1].isUppercase
                let beforeLowercase = index + 1 < characters.count && characters[index + 1].isLowercase
                if afterLowercase || beforeLowercase { result += "_" }
            }
            result += character.lowercased()
        }
        return result
    }

    private struct FieldKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ stringValue: String) { self.stringValue = stringValue }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

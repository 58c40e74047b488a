import Foundation

/// The parameters of a query string, an `application/x-www-form-urlencoded` body or a flat JSON object of strings.
///
/// As RFC 6749 §3.1 asks, a parameter without a value counts as absent and a repeated one makes the request invalid.
struct FormParameters: Sendable {
    private var values: [String: String] = [:]

    subscript(name: String) -> String? { values[name] }

    /// Nil when a name repeats or an escape is malformed.
    init?(urlEncoded text: some StringProtocol) {
        var seen = Set<String>()
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.formDecode(parts[0]), let value = Self.formDecode(parts.count > 1 ? parts[1] : "") else { return nil }
            guard seen.insert(name).inserted else { return nil }
            if !value.isEmpty { values[name] = value }
        }
    }

    /// Nil unless `json` is an object whose values are all strings.
    init?(json: [UInt8]) {
        guard let object = try? JSONDecoder().decode([String: String].self, from: Data(json)) else { return nil }
        values = object.filter { !$0.value.isEmpty }
    }

    /// These parameters and `other`'s together; nil when a name is in both, as for a name repeated in one request.
    func merging(_ other: FormParameters) -> FormParameters? {
        var merged = self
        for (name, value) in other.values {
            guard merged.values.updateValue(value, forKey: name) == nil else { return nil }
        }
        return merged
    }

    /// Percent-decodes one form component, where `+` stands for a space.
    static func formDecode(_ component: some StringProtocol) -> String? {
        String(component).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters, so the value is safe in any query.
    static func encode(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}

import Foundation

/// The credentials of an `Authorization` header: a bearer token or a Basic user and password (both raw, undecoded).
enum AuthorizationHeader: Sendable {
    case bearer(String)
    case basic(user: String, password: String)

    /// Nil for a missing header, another scheme or malformed Basic credentials.
    init?(_ value: String?) {
        guard let value, let space = value.firstIndex(of: " ") else { return nil }
        let scheme = value[..<space].lowercased()
        let credentials = value[value.index(after: space)...].trimmingCharacters(in: .whitespaces)
        guard !credentials.isEmpty else { return nil }
        switch scheme {
        case "bearer":
            self = .bearer(credentials)
        case "basic":
            guard let data = Data(base64Encoded: credentials), let text = String(data: data, encoding: .utf8),
                let colon = text.firstIndex(of: ":")
            else { return nil }
            self = .basic(user: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
        default:
            return nil
        }
    }
}

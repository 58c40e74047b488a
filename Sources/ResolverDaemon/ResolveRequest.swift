import Connectors
import Foundation

/// One resolve request: `{"provider": "stripe", "user_id": "u_123", "min_valid_seconds": 60}`.
struct ResolveRequest: Decodable, Sendable {
    var provider: String
    var userID: String
    var minValidSeconds: Int?

    static let defaultMinValidSeconds = 60
    /// The most a caller may ask a token to stay valid: more would turn most resolves of hour-long tokens into
    /// refreshes (the refresh budget then answers the freshest token anyway).
    static let maximumMinValidSeconds = 1800

    /// Checks the values a decoder cannot: formats and ranges.
    func validated() throws -> ResolveRequest {
        guard Self.isProviderSlug(provider) else {
            throw APIError.invalidRequest("provider must be 1-64 characters of a-z, 0-9, '-' and '_'")
        }
        guard UserIDs.isValid(userID) else { throw APIError.invalidRequest("user_id must be \(UserIDs.rule)") }
        if let minValidSeconds, !(0...Self.maximumMinValidSeconds).contains(minValidSeconds) {
            throw APIError.invalidRequest("min_valid_seconds must be from 0 to \(Self.maximumMinValidSeconds)")
        }
        return self
    }

    static func isProviderSlug(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64
            && text.utf8.allSatisfy { (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2d || $0 == 0x5f }
    }

    /// Decodes a request body (``JSONCoding``), turning decoder failures into a 400 that says which field is wrong.
    static func decode<T: Decodable>(_ type: T.Type, from bytes: some Collection<UInt8>) throws -> T {
        do {
            return try JSONCoding.decoder.decode(T.self, from: Data(bytes))
        } catch DecodingError.keyNotFound(let key, _) {
            throw APIError.invalidRequest("missing field \(JSONCoding.wireName(key))")
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            let field = context.codingPath.filter { $0.intValue == nil }.last.map(JSONCoding.wireName) ?? "body"
            throw APIError.invalidRequest("field \(field) has the wrong type")
        } catch {
            throw APIError.invalidRequest("the body is not valid JSON")
        }
    }
}

/// `{"requests": [ … up to 100 … ]}`.
struct ResolveBatchRequest: Decodable, Sendable {
    var requests: [ResolveRequest]
    static let limit = 100
}

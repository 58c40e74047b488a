import Connectors
import Foundation
import Testing

/// The one snake-case coding: acronyms in capitals on the Swift side, one spelling of each field on the wire.
@Suite struct JSONCodingTests {
    struct Sample: Codable, Equatable {
        var id: String
        var userID: String
        var clientIDParam: String?
        var docsURL: String?
        var latencyMS: Int?
        var sessionJWT: String?
        var expiresAt: Date?
        var values: [String: String]?
    }

    let sample = Sample(
        id: "1", userID: "u", clientIDParam: "client_id", docsURL: "https://docs.example/a", latencyMS: 3, sessionJWT: "j",
        expiresAt: Date(timeIntervalSince1970: 1_738_324_800), values: ["camelCase": "kept", "UPPER_CASE": "kept"])

    @Test func namesAreWrittenAndReadInSnakeCase() throws {
        let text = String(decoding: try JSONCoding.encoder.encode(sample), as: UTF8.self)
        #expect(
            text
                == #"{"client_id_param":"client_id","docs_url":"https://docs.example/a","expires_at":"2025-01-31T12:00:00Z","id":"1","#
                + #""latency_ms":3,"session_jwt":"j","user_id":"u","values":{"UPPER_CASE":"kept","camelCase":"kept"}}"#)
        #expect(try JSONCoding.decoder.decode(Sample.self, from: Data(text.utf8)) == sample)
    }

    /// `userID`, `user__id` or `User_id` are not other spellings of `user_id`: unknown, so ignored.
    @Test func onlyTheSnakeCaseSpellingIsRead() throws {
        let other = #"{"id": "1", "user_id": "u", "clientIDParam": "a", "docs__url": "b", "Latency_ms": 1, "session_jwt_": "c"}"#
        let decoded = try JSONCoding.decoder.decode(Sample.self, from: Data(other.utf8))
        #expect(decoded == Sample(id: "1", userID: "u"))
        #expect(throws: DecodingError.self) { try JSONCoding.decoder.decode(Sample.self, from: Data(#"{"id": "1", "userID": "u"}"#.utf8)) }
    }

    @Test func errorsGiveTheWireName() {
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(_ name: String) { stringValue = name }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        for (name, wire) in [
            ("userID", "user_id"), ("clientIDParam", "client_id_param"), ("docsURL", "docs_url"), ("latencyMS", "latency_ms"),
            ("stateExpiresAt", "state_expires_at"), ("id", "id"), ("google_ads", "google_ads"),
        ] {
            #expect(JSONCoding.wireName(Key(name)) == wire)
        }
    }
}

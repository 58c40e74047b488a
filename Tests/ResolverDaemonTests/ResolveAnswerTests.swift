import Foundation
import NIOCore
import Testing
@testable import ResolverDaemon

@Suite struct ResolveAnswerTests {
    struct Parts {
        var connectorID = "ct_7rppq622ugqxlucibacc5ac3p6"
        var provider = "stripe"
        var userID = "u_77"
        var type = "api_key"
        var accessToken = "tok_" + UUID().uuidString
        var tokenType = "Bearer"
        var expiresAt: Date? = nil
        var scopes: [String] = []
        var metadataJSON = #"{"account_name": "Acme"}"#

        func encoded() -> [UInt8] {
            ResolveAnswer.encode(
                connectorID: connectorID, provider: provider, userID: userID, type: type, accessToken: accessToken,
                tokenType: tokenType, expiresAt: expiresAt, scopes: scopes, metadataJSON: metadataJSON)
        }
    }

    func decoded(_ parts: Parts) throws -> (connectorID: String, body: [String: Any], bodyText: String, stored: Int) {
        let stored = parts.encoded()
        let (connectorID, body) = stored.withUnsafeBytes { ResolveAnswer.decode($0) }
        let text = String(buffer: body)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        return (connectorID, object, text, stored.count)
    }

    @Test func theBodyNamesEveryMemberInOrderAndTheStoredFormIsSmaller() throws {
        let parts = Parts()
        let answer = try decoded(parts)
        #expect(answer.connectorID == parts.connectorID)
        #expect(answer.bodyText == """
            {"connector_id":"\(parts.connectorID)","provider":"stripe","user_id":"u_77","type":"api_key",\
            "access_token":"\(parts.accessToken)","token_type":"Bearer","expires_at":null,"scopes":[],\
            "metadata":{"account_name": "Acme"}}
            """)
        // Nine one-byte lengths instead of the member names and punctuation.
        let template = ResolveAnswer.members.reduce(1) { $0 + #"{"":"#.utf8.count + $1.utf8.count }
        #expect(answer.stored == answer.bodyText.utf8.count - template + 9)
    }

    /// Values that need escaping, that are not ASCII, or longer than a one-byte length, come back exactly.
    @Test func awkwardValuesComeBackExactly() throws {
        var parts = Parts()
        parts.provider = "google_ads"
        parts.userID = "user \"quoted\" \\ back\\slash\ttab\u{1}ctl caf\u{E9} \u{1F511}"
        parts.type = "oauth"
        parts.accessToken = String(repeating: "a", count: 20_000) + "\n"
        parts.tokenType = "bearer"
        parts.expiresAt = Date(timeIntervalSince1970: 1_800_000_000)
        parts.scopes = ["https://www.googleapis.com/auth/adwords", "x\"y"]
        parts.metadataJSON = #"{"nested": {"list": [1, 2.5, null, true]}, "name": "\u00e9"}"#
        let answer = try decoded(parts)
        #expect(answer.connectorID == parts.connectorID)
        #expect(Array(answer.body.keys).sorted() == ResolveAnswer.members.sorted())
        #expect(answer.body["provider"] as? String == parts.provider)
        #expect(answer.body["user_id"] as? String == parts.userID)
        #expect(answer.body["type"] as? String == "oauth")
        #expect(answer.body["access_token"] as? String == parts.accessToken)
        #expect(answer.body["token_type"] as? String == "bearer")
        #expect(answer.body["expires_at"] as? String == "2027-01-15T08:00:00Z")
        #expect(answer.body["scopes"] as? [String] == parts.scopes)
        let metadata = try #require(answer.body["metadata"] as? [String: Any])
        #expect(metadata["name"] as? String == "\u{E9}")
        #expect((metadata["nested"] as? [String: Any])?["list"] as? [Any] != nil)
    }
}

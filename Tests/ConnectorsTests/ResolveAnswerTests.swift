import Foundation
import NIOCore
import Testing
@testable import Connectors

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
        /// The request the answer is for; nil: the answer's own provider and user id.
        var key: ResolveCache.Key?

        func encoded() -> [UInt8] {
            ResolveAnswer.encode(
                connectorID: connectorID, provider: provider, userID: userID, type: type, accessToken: accessToken,
                tokenType: tokenType, expiresAt: expiresAt, scopes: scopes, metadataJSON: metadataJSON,
                for: key ?? ResolveCache.Key(userID: userID, provider: provider))
        }
    }

    func decoded(_ parts: Parts) throws -> (connectorID: String, body: [String: Any], bodyText: String, stored: Int) {
        let stored = parts.encoded()
        let key = parts.key ?? ResolveCache.Key(userID: parts.userID, provider: parts.provider)
        let (connectorID, body) = stored.withUnsafeBytes {
            (ResolveAnswer.connectorID($0), ResolveAnswer.body($0, provider: key.provider, userID: key.userID))
        }
        let text = String(buffer: body)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        return (connectorID, object, text, stored.count)
    }

    @Test func theBodyNamesEveryMemberInOrderAndTheStoredFormIsSmaller() throws {
        let parts = Parts()
        let answer = try decoded(parts)
        #expect(answer.connectorID == parts.connectorID)
        #expect(
            answer.bodyText == """
                {"connector_id":"\(parts.connectorID)","provider":"stripe","user_id":"u_77","type":"api_key",\
                "access_token":"\(parts.accessToken)","token_type":"Bearer","expires_at":null,"scopes":[],\
                "metadata":{"account_name": "Acme"}}
                """)
        // Nine one-byte headers, the connector id, the token and the metadata: provider and user id are the
        // request's, and the type, token type, expiry and scopes are shared values.
        let texts = [#""\#(parts.connectorID)""#, #""\#(parts.accessToken)""#, parts.metadataJSON]
        #expect(answer.stored == 9 + texts.reduce(0) { $0 + $1.utf8.count })
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

    /// An answer whose provider or user id is not the request's keeps its own; shared values and texts mix.
    @Test func valuesOtherThanTheRequestsAreKeptAsText() throws {
        var parts = Parts()
        parts.key = ResolveCache.Key(userID: "someone-else", provider: "gmail")
        parts.type = "oauth"
        parts.expiresAt = Date(timeIntervalSince1970: 1_800_000_000)
        parts.scopes = ["a"]
        parts.metadataJSON = "{}"
        let answer = try decoded(parts)
        #expect(answer.body["provider"] as? String == "stripe")
        #expect(answer.body["user_id"] as? String == "u_77")
        #expect(answer.body["type"] as? String == "oauth")
        #expect(answer.body["expires_at"] as? String == "2027-01-15T08:00:00Z")
        #expect(answer.body["scopes"] as? [String] == ["a"])
        #expect((answer.body["metadata"] as? [String: Any])?.isEmpty == true)
    }
}

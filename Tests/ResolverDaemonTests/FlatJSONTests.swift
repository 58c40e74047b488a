import Connectors
import Foundation
import Testing
@testable import ResolverDaemon

@Suite struct FlatJSONTests {
    @Test(arguments: [
        #"{"provider": "stripe", "user_id": "u_1"}"#,
        #"{"user_id":"u \"q\" \\ /","provider":"stripe","min_valid_seconds":0}"#,
        #" { "provider" : "gmail" , "user_id" : "ü-1" , "extra" : true , "more" : null , "n" : -5 } "#,
    ])
    func theFastPathReadsWhatJSONDecoderReads(_ body: String) throws {
        let fast = try #require(ResolveRequest.fastParse(Array(body.utf8)))
        let full = try JSONCoding.decoder.decode(ResolveRequest.self, from: Data(body.utf8))
        #expect(fast.provider == full.provider && fast.userID == full.userID && fast.minValidSeconds == full.minValidSeconds)
    }

    @Test(arguments: [
        #"{"provider": "stripe"}"#,  // missing field: the decoder words the error
        #"{"provider": 7, "user_id": "u"}"#,
        #"{"provider": "stripe", "user_id": "u", "min_valid_seconds": 1.5}"#,
        #"{"provider": "stripe", "user_id": "\u0075"}"#,
        #"{"provider": "stripe", "user_id": "u", "nested": {"a": 1}}"#,
        #"{"provider": "stripe", "provider": "gmail", "user_id": "u"}"#,
        #"{"provider": "stripe", "user_id": "u"} trailing"#,
        #"{"provider": "stripe", "user_id": "u",}"#,
        #"{"provider": "stripe", "user_id": "u", "min_valid_seconds": 007}"#,  // JSON has no leading zeros
        #"{"provider": "stripe", "user_id": "u", "min_valid_seconds": 99999999999999999999}"#,
        #"{"provider": "stripe", "user_id": "u", "min_valid_seconds": -}"#,
        #"{"provider": "stripe", "user_id": "u", "min_valid_seconds": 1e3}"#,
        #"{"provider": "stripe", "user_id": "u", "min_valid_seconds": null}"#,
        #"{"provider": "stripe", "user_id": "u", "x": 1, "x": 2}"#,
        #"{"provider": "stripe", "user_id": "u", "x": nul}"#,
        #"{"provider": "stripe", "user_id": "u\q"}"#,  // not an escape JSON has
        "{\"provider\": \"stripe\", \"user_id\": \"u\u{1}\"}",  // a raw control character
        "{not json",
        "",
    ])
    func anythingElseGoesToTheFullDecoder(_ body: String) {
        #expect(ResolveRequest.fastParse(Array(body.utf8)) == nil)
    }

    /// Bytes that are not UTF-8, in a value or in a key: the full decoder refuses them with its own words.
    @Test func invalidUTF8GoesToTheFullDecoder() {
        let value = Array(#"{"provider": "stripe", "user_id": "u"#.utf8) + [0xFF] + Array(#""}"#.utf8)
        let key = Array(#"{"provider": "stripe", "user_id": "u", ""#.utf8) + [0xC3] + Array(#"": 1}"#.utf8)
        #expect(ResolveRequest.fastParse(value) == nil)
        #expect(ResolveRequest.fastParse(key) == nil)
    }
}

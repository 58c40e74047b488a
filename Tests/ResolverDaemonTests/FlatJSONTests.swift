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
        let full = try JSONDecoder().decode(ResolveRequest.self, from: Data(body.utf8))
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
        "{not json",
        "",
    ])
    func anythingElseGoesToTheFullDecoder(_ body: String) {
        #expect(ResolveRequest.fastParse(Array(body.utf8)) == nil)
    }
}

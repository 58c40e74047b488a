import NIOCore
import Testing
@testable import ResolverDaemon

@Suite struct CachedAnswerTests {
    func roundTrip(body: String, connectorID: String) throws -> (connectorID: String, body: String, stored: Int) {
        let encoded = try #require(CachedAnswer.encode(body: Array(body.utf8), connectorID: connectorID))
        let decoded = encoded.withUnsafeBytes { CachedAnswer.decode($0) }
        return (decoded.connectorID, String(buffer: decoded.body), encoded.count)
    }

    /// The rendered body names the connector, so the id is kept as a place in it: four bytes besides the body.
    @Test func anIdTheBodyNamesIsKeptAsItsPlace() throws {
        let id = "ct_7rppq622ugqxlucibacc5ac3p6"
        let body = "{\"connector_id\":\"\(id)\",\"provider\":\"stripe\"}"
        let answer = try roundTrip(body: body, connectorID: id)
        #expect(answer.connectorID == id)
        #expect(answer.body == body)
        #expect(answer.stored == body.utf8.count + 4)
    }

    @Test(arguments: [
        "{\"provider\":\"stripe\"}",  // the body does not name it
        "",  // nothing at all
        "{\"pad\":\"" + String(repeating: "x", count: 70_000) + "\",\"connector_id\":\"ct_1\"}",  // named too far in
    ])
    func anIdTheBodyDoesNotNameWithinReachIsKeptWhole(_ body: String) throws {
        let answer = try roundTrip(body: body, connectorID: "ct_1")
        #expect(answer.connectorID == "ct_1")
        #expect(answer.body == body)
        #expect(answer.stored == body.utf8.count + 2 + 4)
    }

    @Test func anIdTooLongOrEmptyIsNotCached() {
        #expect(CachedAnswer.encode(body: [], connectorID: String(repeating: "c", count: 256)) == nil)
        #expect(CachedAnswer.encode(body: [], connectorID: "") == nil)
    }
}

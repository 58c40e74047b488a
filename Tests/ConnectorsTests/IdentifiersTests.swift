import Connectors
import Testing

struct IdentifiersTests {
    @Test func madeIdentifiersAreDistinctAndPrefixed() throws {
        let ids = try (0..<1_000).map { _ in try Identifiers.make(prefix: "ct_") }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.hasPrefix("ct_") && $0.utf8.count == 29 })
        #expect(ids.allSatisfy { $0.dropFirst(3).allSatisfy { "abcdefghijklmnopqrstuvwxyz234567".contains($0) } })
    }

    @Test func userIDsAreOneTo256CharactersWithoutControls() {
        for valid in ["u", "u_123", "user@example.com", "ünïcödé ✓", String(repeating: "é", count: 256)] {
            #expect(UserIDs.isValid(valid), "\(valid)")
        }
        for invalid in ["", "u\u{0}x", "u\u{1b}x", "tab\there", "line\n", "del\u{7f}", String(repeating: "x", count: 257)] {
            #expect(!UserIDs.isValid(invalid), "\(invalid.debugDescription)")
        }
    }
}

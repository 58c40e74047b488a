import Foundation
import PGClient
import PGTestSupport
import Testing

/// `COPY … FROM STDIN (FORMAT binary)` through ``PGCopyRows``: values arrive exactly, large streams get through,
/// and a failed copy stores nothing and leaves the pool working.
@Suite(.enabled(if: TestDatabase.isConfigured)) struct CopyInTests {
    static let table = "CREATE TABLE copied (at timestamptz NOT NULL, name text NOT NULL, note text, n int8 NOT NULL)"
    static let copy = "COPY copied (at, name, note, n) FROM STDIN (FORMAT binary)"

    @Test func valuesArriveExactly() async throws {
        try await TestDatabase.withSchema { pool, _ in
            _ = try await pool.query(PGQuery(unsafeSQL: Self.table))
            let at = Date(timeIntervalSince1970: 1_764_633_600.123456)
            let values: [(Date, String, String?, Int64)] = [
                (at, "plain", nil, 0),
                (Date.distantFuture, "ünïcödé ✓ 日本語 🦀", "", Int64.min),
                (Date(timeIntervalSince1970: 0), "quote ' and \" and \\ and \t tab", "line\nbreak", Int64.max),
            ]
            var rows = PGCopyRows()
            for (date, name, note, n) in values {
                rows.startRow(fieldCount: 4)
                rows.append(timestamp: date)
                rows.append(text: name)
                rows.append(text: note)
                rows.append(int64: n)
            }
            #expect(rows.rowCount == 3)
            #expect(try await pool.copyIn(unsafeSQL: Self.copy, rows: rows) == 3)

            let back = try await pool.query("SELECT at, name, note, n FROM copied ORDER BY n").map {
                try $0.decode((Date, String, String?, Int).self)
            }
            #expect(back.count == 3)
            #expect(back.map(\.1) == [values[1].1, values[0].1, values[2].1])
            #expect(back.map(\.2) == [values[1].2, values[0].2, values[2].2])
            #expect(back.map(\.3) == [Int.min, 0, Int.max])
            #expect(back[0].0 == .distantFuture)
            #expect(abs(back[1].0.timeIntervalSince1970 - at.timeIntervalSince1970) < 0.000_001)
            #expect(back[2].0.timeIntervalSince1970 == 0)
        }
    }

    /// Far more than a socket buffer holds: the rest is sent as the socket drains.
    @Test func aLargeStreamGetsThrough() async throws {
        try await TestDatabase.withSchema { pool, _ in
            _ = try await pool.query(PGQuery(unsafeSQL: Self.table))
            let padding = String(repeating: "p", count: 200)
            var rows = PGCopyRows()
            for i in 0..<40_000 {
                rows.startRow(fieldCount: 4)
                rows.append(timestamp: Date(timeIntervalSince1970: Double(i)))
                rows.append(text: "row \(i)")
                rows.append(text: i.isMultiple(of: 3) ? nil : padding)
                rows.append(int64: Int64(i))
            }
            #expect(try await pool.copyIn(unsafeSQL: Self.copy, rows: rows) == 40_000)
            let summary = try #require(try await pool.query("SELECT count(*), sum(n)::int8, count(note) FROM copied").first)
            #expect(try summary.decode((Int, Int, Int).self) == (40_000, 39_999 * 40_000 / 2, 40_000 - 13_334))
        }
    }

    @Test func aRejectedRowStoresNothingAndThePoolGoesOn() async throws {
        try await TestDatabase.withSchema { pool, _ in
            _ = try await pool.query(PGQuery(unsafeSQL: Self.table))
            var rows = PGCopyRows()
            for name in ["first", nil, "third"] {
                rows.startRow(fieldCount: 4)
                rows.append(timestamp: Date())
                rows.append(text: name)  // NULL violates NOT NULL
                rows.appendNull()
                rows.append(int64: 1)
            }
            let error = await #expect(throws: PGError.self) { try await pool.copyIn(unsafeSQL: Self.copy, rows: rows) }
            #expect(error?.sqlState == "23502")
            #expect(try await pool.query("SELECT count(*) FROM copied").first?.decode(Int.self, at: 0) == 0)

            // A statement that is not a COPY, and a table that does not exist: clear errors, nothing left open.
            let notCopy = await #expect(throws: PGError.self) {
                try await pool.copyIn(unsafeSQL: "SELECT 1", rows: PGCopyRows())
            }
            #expect(notCopy?.code == .protocolViolation)
            let missing = await #expect(throws: PGError.self) {
                try await pool.copyIn(unsafeSQL: "COPY nowhere (a) FROM STDIN (FORMAT binary)", rows: PGCopyRows())
            }
            #expect(missing?.sqlState == "42P01")
            #expect(try await pool.query("SELECT 42").first?.decode(Int.self, at: 0) == 42)
        }
    }

    @Test func aDateOutOfRangeFailsBeforeAnythingIsSent() async throws {
        try await TestDatabase.withSchema { pool, _ in
            _ = try await pool.query(PGQuery(unsafeSQL: Self.table))
            var rows = PGCopyRows()
            rows.startRow(fieldCount: 4)
            rows.append(timestamp: Date(timeIntervalSince1970: 1e300))
            rows.append(text: "far")
            rows.appendNull()
            rows.append(int64: 1)
            let error = await #expect(throws: PGError.self) { try await pool.copyIn(unsafeSQL: Self.copy, rows: rows) }
            #expect(error?.code == .encoding)
            #expect(try await pool.query("SELECT count(*) FROM copied").first?.decode(Int.self, at: 0) == 0)
        }
    }
}

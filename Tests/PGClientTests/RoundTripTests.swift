import Foundation
import PGClient
import PGTestSupport
import Testing

/// Every supported type goes to the server as a parameter and comes back decoded.
@Suite(.enabled(if: TestDatabase.isConfigured)) struct RoundTripTests {
    func roundTrip<T: PGEncodable & PGDecodable>(_ value: T, as type: String, in pool: PGConnectionPool) async throws -> T {
        let rows = try await pool.query(PGQuery(unsafeSQL: "SELECT $1::\(type) AS value", bindings: bindings(value)))
        return try #require(rows.first).decode(T.self, column: "value")
    }

    /// Sends `value` as a `type` parameter and expects the same value back.
    func expectRoundTrip<T: PGEncodable & PGDecodable & Equatable>(
        _ value: T, as type: String, in pool: PGConnectionPool, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let back: T = try await roundTrip(value, as: type, in: pool)
        #expect(back == value, sourceLocation: sourceLocation)
    }

    func bindings(_ value: some PGEncodable) -> PGBindings {
        var bindings = PGBindings()
        value.encode(into: &bindings)
        return bindings
    }

    @Test func strings() async throws {
        try await TestDatabase.withSchema { pool, _ in
            for value in ["", "plain", "ünïcödé ✓ 日本語 🦀", "quote ' and \" and \\", String(repeating: "x", count: 100_000)] {
                try await expectRoundTrip(value, as: "text", in: pool)
            }
        }
    }

    @Test func integersBooleansAndDoubles() async throws {
        try await TestDatabase.withSchema { pool, _ in
            for value in [0, 1, -1, Int.max, Int.min] { #expect(try await roundTrip(value, as: "int8", in: pool) == value) }
            for value: Int32 in [0, .max, .min] { #expect(try await roundTrip(value, as: "int4", in: pool) == value) }
            for value: Int16 in [0, .max, .min] { #expect(try await roundTrip(value, as: "int2", in: pool) == value) }
            for value in [true, false] { #expect(try await roundTrip(value, as: "bool", in: pool) == value) }
            for value in [0.0, -1.5, .pi, .infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude] {
                try await expectRoundTrip(value, as: "float8", in: pool)
            }
            #expect(try await roundTrip(Double.nan, as: "float8", in: pool).isNaN)
            // int4 and int2 columns widen into Int.
            let row = try #require(try await pool.query("SELECT 7::int2, 8::int4, 9::int8").first)
            #expect(try row.decode((Int, Int, Int).self) == (7, 8, 9))
        }
    }

    @Test func datesKeepMicroseconds() async throws {
        try await TestDatabase.withSchema { pool, _ in
            for microseconds: Int64 in [0, 1_763_779_200_123_456, -946_684_800_000_001, 4_102_444_800_999_999] {
                let (seconds, remainder) = microseconds.quotientAndRemainder(dividingBy: 1_000_000)
                let date = Date(timeIntervalSince1970: Double(seconds) + Double(remainder) / 1_000_000)
                let back = try await roundTrip(date, as: "timestamptz", in: pool)
                #expect(abs(back.timeIntervalSince1970 - date.timeIntervalSince1970) < 0.000_001)
            }
            try await expectRoundTrip(Date.distantFuture, as: "timestamptz", in: pool)
            let epoch = try #require(try await pool.query("SELECT '2000-01-01T00:00:00.000001Z'::timestamptz").first)
            #expect(try epoch.decode(Date.self, at: 0).timeIntervalSince1970 == 946_684_800.000_001)
        }
    }

    @Test func uuidsBytesAndArrays() async throws {
        try await TestDatabase.withSchema { pool, _ in
            let id = UUID()
            try await expectRoundTrip(id, as: "uuid", in: pool)
            let bytes: [UInt8] = [0, 1, 0, 255, 0, 0]
            try await expectRoundTrip(bytes, as: "bytea", in: pool)
            try await expectRoundTrip([UInt8](), as: "bytea", in: pool)
            var large = [UInt8](repeating: 0, count: 1 << 20)
            for i in large.indices where i % 7 == 0 { large[i] = UInt8(truncatingIfNeeded: i) }
            try await expectRoundTrip(large, as: "bytea", in: pool)
            try await expectRoundTrip(Data(large), as: "bytea", in: pool)
            let words = ["a", "", "with \"quotes\" and {braces}, commas", "ünï", "NULL"]
            try await expectRoundTrip(words, as: "text[]", in: pool)
            try await expectRoundTrip([String](), as: "text[]", in: pool)
        }
    }

    /// Arrays written element by element: NULL elements, microseconds, the empty array, and what cannot be sent.
    @Test func binaryArraysFromElements() async throws {
        try await TestDatabase.withSchema { pool, _ in
            let times = (0..<300).map { Date(timeIntervalSince1970: 1_764_633_600 + Double($0) / 1000 + 0.000_001) }
            let names: [String?] = (0..<300).map { $0.isMultiple(of: 7) ? nil : "name \($0) ✓" }
            let timeArray = PGBinaryArray.timestamptz(count: times.count) { times[$0] }
            let nameArray = PGBinaryArray.text(count: names.count) { names[$0] }
            let rows = try await pool.query(
                "SELECT extract(epoch FROM at)::float8, name FROM unnest(\(timeArray), \(nameArray)) WITH ORDINALITY AS e (at, name, n) ORDER BY n")
            #expect(rows.count == 300)
            for (index, row) in rows.enumerated() {
                let (epoch, name) = try row.decode((Double, String?).self)
                #expect(abs(epoch - times[index].timeIntervalSince1970) < 0.000_000_5)
                #expect(name == names[index])
            }
            let nulls = try await pool.query("SELECT array_position(\(nameArray), NULL), cardinality(\(PGBinaryArray.text(count: 0) { _ in nil }))")
            #expect(try #require(nulls.first).decode((Int, Int).self) == (1, 0))

            let nul = try await #require(throws: PGError.self) {
                _ = try await pool.query("SELECT \(PGBinaryArray.text(count: 2) { ["a", "b\u{0}"][$0] })")
            }
            #expect(nul.code == .encoding && nul.message.contains("NUL"))
            let far = try await #require(throws: PGError.self) {
                _ = try await pool.query("SELECT \(PGBinaryArray.timestamptz(count: 1) { _ in Date(timeIntervalSince1970: 1e300) })")
            }
            #expect(far.code == .encoding && far.message.contains("out of range"))
        }
    }

    struct Settings: Codable, Equatable, Sendable {
        var name: String
        var limits: [String: Int]
        var nested: [Settings]?
    }

    @Test func jsonAndJsonb() async throws {
        try await TestDatabase.withSchema { pool, _ in
            let value = Settings(name: "ünï \"q\"", limits: ["a": 1], nested: [Settings(name: "inner", limits: [:], nested: nil)])
            for type in ["json", "jsonb"] {
                #expect(try await roundTrip(PGJSON(value), as: type, in: pool).value == value)
            }
            let raw = try #require(try await pool.query("SELECT '{\"k\": [1, 2]}'::jsonb").first)
            #expect(try raw.decode(String.self, at: 0) == #"{"k": [1, 2]}"#)
        }
    }

    @Test func nullsAndOptionals() async throws {
        try await TestDatabase.withSchema { pool, _ in
            let none: String? = nil
            let rows = try await pool.query("SELECT \(none)::text AS a, \(Optional(5))::int8 AS b, NULL::bytea AS c")
            let row = try #require(rows.first)
            #expect(try row.decode(String?.self, column: "a") == nil)
            #expect(try row.decode(Int?.self, column: "b") == 5)
            #expect(try row.decode([UInt8]?.self, column: "c") == nil)
            let error = try #require(throws: PGError.self) { try row.decode(String.self, column: "a") }
            #expect(error.code == .decoding)
            #expect(error.column == "a")
        }
    }

    @Test func wrongTypesNameTheColumn() async throws {
        try await TestDatabase.withSchema { pool, _ in
            let row = try #require(try await pool.query("SELECT 'x'::text AS label, 70000::int4 AS big").first)
            let mismatch = try #require(throws: PGError.self) { try row.decode(Int.self, column: "label") }
            #expect(mismatch.code == .decoding && mismatch.column == "label")
            #expect(mismatch.message.contains("text"))
            let overflow = try #require(throws: PGError.self) { try row.decode(Int16.self, column: "big") }
            #expect(overflow.column == "big")
            let missing = try #require(throws: PGError.self) { try row.decode(Int.self, column: "nope") }
            #expect(missing.column == "nope")
        }
    }

    @Test func injectionStaysData() async throws {
        try await TestDatabase.withSchema { pool, _ in
            _ = try await pool.query("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")
            let hostile = ["'); DROP TABLE notes; --", "\\'; SELECT pg_sleep(5); --", "$1", "' OR '1'='1"]
            for body in hostile { _ = try await pool.query("INSERT INTO notes (body) VALUES (\(body))") }
            let rows = try await pool.query("SELECT body FROM notes WHERE body = \(hostile[3]) OR id > 0 ORDER BY id")
            #expect(try rows.map { try $0.decode(String.self, at: 0) } == hostile)
            let matched = try await pool.query("SELECT count(*) FROM notes WHERE body = \("' OR '1'='1' --x")")
            #expect(try matched.first?.decode(Int.self, at: 0) == 0)
        }
    }

    @Test func nulCharactersAreRefusedNotTruncated() async throws {
        try await TestDatabase.withSchema { pool, _ in
            let error = try await #require(throws: PGError.self) { _ = try await pool.query("SELECT \("a\u{0}b")::text") }
            #expect(error.code == .encoding)
        }
    }

    @Test func serverErrorsCarrySQLStateWithoutValues() async throws {
        try await TestDatabase.withSchema { pool, _ in
            _ = try await pool.query("CREATE TABLE keys (k text PRIMARY KEY)")
            _ = try await pool.query("INSERT INTO keys VALUES (\("secret-value-1"))")
            let duplicate = try await #require(throws: PGError.self) {
                _ = try await pool.query("INSERT INTO keys VALUES (\("secret-value-1"))")
            }
            #expect(duplicate.sqlState == "23505")
            #expect(duplicate.constraint == "keys_pkey")
            let syntax = try await #require(throws: PGError.self) { _ = try await pool.query("SELECT \("not-a-uuid-secret")::uuid") }
            #expect(syntax.sqlState == "22P02")
            for error in [duplicate, syntax] {
                #expect(!String(reflecting: error).contains("secret"))
                #expect(!"\(error)".contains("secret"))
            }
            // The connection stays usable after errors.
            #expect(try await pool.query("SELECT 1").first?.decode(Int.self, at: 0) == 1)
        }
    }
}

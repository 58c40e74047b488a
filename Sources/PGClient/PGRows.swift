import CLibPQ
/// The rows a statement returned.
public struct PGRows: Sendable, RandomAccessCollection {
    let result: PGResult

    init(_ result: PGResult) { self.result = result }

    public var startIndex: Int { 0 }
    public var endIndex: Int { result.rowCount }
    public subscript(position: Int) -> PGRow { PGRow(result: result, row: position) }

    /// Rows changed by an INSERT, UPDATE or DELETE.
    public var affectedRows: Int { result.affectedRows }
    /// The result's column names, in order.
    public var columnNames: [String] { (0..<result.columnCount).map(result.columnName) }
}

/// One row of a result.
public struct PGRow: Sendable {
    let result: PGResult
    let row: Int

    /// Decodes the column at `column` (0-based).
    public func decode<T: PGDecodable>(_: T.Type = T.self, at column: Int) throws -> T {
        guard column >= 0, column < result.columnCount else {
            throw PGError(.decoding, message: "the result has no column #\(column)", column: "#\(column)")
        }
        let handle = result.handle
        let (r, c) = (Int32(row), Int32(column))
        if PQgetisnull(handle, r, c) != 0 { return try T.decodeNull(column: result.columnName(column)) }
        guard PQfformat(handle, c) == 1 else {
            throw PGError(.decoding, message: "the column is in text format", column: result.columnName(column))
        }
        let length = Int(PQgetlength(handle, r, c))
        let bytes = UnsafeRawBufferPointer(start: PQgetvalue(handle, r, c), count: length)
        return try T.decode(from: PGCell(type: PGTypeOID(rawValue: PQftype(handle, c)), bytes: bytes, result: result, column: column))
    }

    /// Decodes the column called `column`.
    public func decode<T: PGDecodable>(_: T.Type = T.self, column: String) throws -> T {
        guard let index = result.columnIndex(column) else {
            throw PGError(.decoding, message: "the result has no such column", column: column)
        }
        return try decode(T.self, at: index)
    }

    /// Decodes consecutive columns, the leading ones unless `first` says otherwise, into a tuple:
    /// `let (id, name) = try row.decode((Int, String?).self)`.
    public func decode<each T: PGDecodable>(_: (repeat each T).Type, startingAt first: Int = 0) throws -> (repeat each T) {
        var column = first
        func next<U: PGDecodable>(_: U.Type) throws -> U {
            defer { column += 1 }
            return try decode(U.self, at: column)
        }
        return (repeat try next((each T).self))
    }
}

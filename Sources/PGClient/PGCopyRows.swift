public import Foundation

/// Rows for `COPY … FROM STDIN (FORMAT binary)`, built field by field in PostgreSQL's binary copy format:
/// a signature and two 32-bit words, then per row a 16-bit field count and per field a 32-bit length (−1 for
/// NULL) and its bytes, then a 16-bit −1. The server parses no text and evaluates no expression for it, which
/// makes it the cheapest way to append many rows.
///
/// Each row must give exactly the fields its ``startRow(fieldCount:)`` announced, in the table's column order
/// of the COPY statement.
public struct PGCopyRows: Sendable {
    private static let signature: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00]

    private var buffer: [UInt8]
    /// Fields the current row still expects.
    private var fieldsLeft = 0
    private var encodingError: PGError?
    public private(set) var rowCount = 0

    /// An empty set of rows; `capacity` bytes are reserved.
    public init(reservingCapacity capacity: Int = 4096) {
        buffer = []
        buffer.reserveCapacity(capacity)
        buffer.append(contentsOf: Self.signature)
        appendBigEndian(Int32(0))  // flags: no OIDs
        appendBigEndian(Int32(0))  // header extension length
    }

    /// Begins a row of `fieldCount` fields.
    public mutating func startRow(fieldCount: Int) {
        precondition(fieldsLeft == 0, "the previous COPY row has \(fieldsLeft) fields missing")
        precondition(fieldCount > 0 && fieldCount <= Int(Int16.max), "a COPY row has 1 to 32767 fields")
        appendBigEndian(Int16(fieldCount))
        fieldsLeft = fieldCount
        rowCount += 1
    }

    /// A `text` (or `varchar`) field; nil is NULL.
    public mutating func append(text: String?) {
        guard var text else { return appendNull() }
        text.withUTF8 { appendField($0) }
    }

    /// A `timestamptz` field, to the microsecond.
    public mutating func append(timestamp: Date) {
        guard let microseconds = timestamp.postgresMicroseconds else {
            if encodingError == nil {
                encodingError = PGError(.encoding, message: "COPY row \(rowCount) holds a date out of range")
            }
            return appendNull()
        }
        takeField()
        appendBigEndian(Int32(8))
        appendBigEndian(microseconds)
    }

    /// An `int8` field.
    public mutating func append(int64 value: Int64) {
        takeField()
        appendBigEndian(Int32(8))
        appendBigEndian(value)
    }

    /// A NULL field.
    public mutating func appendNull() {
        takeField()
        appendBigEndian(Int32(-1))
    }

    /// The copy stream without its ``trailer`` (sent after it, so that the rows are never copied to append two
    /// bytes); throws when a value could not be encoded.
    func encoded() throws -> [UInt8] {
        precondition(fieldsLeft == 0, "the last COPY row has \(fieldsLeft) fields missing")
        if let encodingError { throw encodingError }
        return buffer
    }

    /// What ends the stream: a field count of −1.
    static let trailer: [UInt8] = [0xFF, 0xFF]

    private mutating func appendField(_ bytes: UnsafeBufferPointer<UInt8>) {
        takeField()
        appendBigEndian(Int32(bytes.count))
        buffer.append(contentsOf: bytes)
    }

    private mutating func takeField() {
        precondition(fieldsLeft > 0, "a COPY row got more fields than announced")
        fieldsLeft -= 1
    }

    private mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
    }
}

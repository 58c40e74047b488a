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
            fail("COPY row \(rowCount) holds a date out of range")
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

    /// A one-dimensional `text[]` field of `count` elements, the i-th `element(i)`; nil elements are NULL.
    /// (A closure rather than a generic collection: this module's generics are not specialized in the caller's,
    /// and an unspecialized walk over thousands of elements cost microseconds each.)
    public mutating func appendTextArray(count: Int, _ element: (Int) -> String?) {
        appendArray(of: .text, count: count) { rows in
            var hasNull = false
            for index in 0..<count {
                guard var text = element(index) else {
                    rows.appendBigEndian(Int32(-1))
                    hasNull = true
                    continue
                }
                text.withUTF8 { utf8 in
                    rows.appendBigEndian(Int32(utf8.count))
                    rows.buffer.append(contentsOf: utf8)
                }
            }
            return hasNull
        }
    }

    /// A one-dimensional `timestamptz[]` field of `count` elements, the i-th `element(i)`, to the microsecond.
    public mutating func appendTimestampArray(count: Int, _ element: (Int) -> Date) {
        appendArray(of: .timestamptz, count: count) { rows in
            for index in 0..<count {
                guard let microseconds = element(index).postgresMicroseconds else {
                    rows.fail("COPY row \(rows.rowCount) holds a date out of range")
                    rows.appendBigEndian(Int32(-1))
                    continue
                }
                rows.appendBigEndian(Int32(8))
                rows.appendBigEndian(microseconds)
            }
            return false
        }
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

    /// An array field in PostgreSQL's binary form: a header, then what `writeElements` appends (each element's
    /// length, −1 for NULL, and bytes), which answers whether it wrote a NULL; the field's length comes last.
    private mutating func appendArray(of element: PGTypeOID, count: Int, _ writeElements: (inout PGCopyRows) -> Bool) {
        takeField()
        let lengthAt = buffer.count
        appendBigEndian(Int32(0))
        appendBigEndian(Int32(count == 0 ? 0 : 1))  // dimensions
        let flagsAt = buffer.count
        appendBigEndian(Int32(0))  // 1 when an element is NULL
        appendBigEndian(Int32(bitPattern: element.rawValue))
        if count > 0 {
            appendBigEndian(Int32(count))
            appendBigEndian(Int32(1))  // lower bound
        }
        if writeElements(&self) { overwriteBigEndian(Int32(1), at: flagsAt) }
        let length = buffer.count - lengthAt - 4
        guard length <= Int(Int32.max) else { return fail("COPY row \(rowCount) holds an array larger than 2 GiB") }
        overwriteBigEndian(Int32(length), at: lengthAt)
    }

    private mutating func fail(_ message: String) {
        if encodingError == nil { encodingError = PGError(.encoding, message: message) }
    }

    private mutating func overwriteBigEndian(_ value: Int32, at offset: Int) {
        withUnsafeBytes(of: value.bigEndian) { bytes in
            buffer.replaceSubrange(offset..<offset + 4, with: bytes)
        }
    }

    private mutating func takeField() {
        precondition(fieldsLeft > 0, "a COPY row got more fields than announced")
        fieldsLeft -= 1
    }

    private mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
    }
}

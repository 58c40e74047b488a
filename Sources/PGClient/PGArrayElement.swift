/// Element types whose Swift arrays map to one PostgreSQL type: `[UInt8]` is `bytea`, `[String]` is `text[]`.
public protocol PGArrayElement: Sendable {
    static func encodeArray(_ array: [Self], into bindings: inout PGBindings)
    static func decodeArray(from cell: PGCell) throws -> [Self]
}

extension UInt8: PGArrayElement {
    public static func encodeArray(_ array: [UInt8], into bindings: inout PGBindings) {
        bindings.appendBinary(type: .bytea) { $0.append(contentsOf: array) }
    }

    public static func decodeArray(from cell: PGCell) throws -> [UInt8] {
        guard cell.type == .bytea else { throw cell.typeMismatch(expected: "[UInt8]") }
        return Array(cell.bytes)
    }
}

extension String: PGArrayElement {
    public static func encodeArray(_ array: [String], into bindings: inout PGBindings) {
        PGBinaryArray.text(count: array.count) { array[$0] }.encode(into: &bindings)
    }

    public static func decodeArray(from cell: PGCell) throws -> [String] {
        guard cell.type == .textArray || cell.type == .varcharArray || cell.type == .nameArray else {
            throw cell.typeMismatch(expected: "[String]")
        }
        var reader = PGBinaryReader(cell.bytes)
        guard let dimensions = reader.int32(), let _ = reader.int32(), let _ = reader.int32() else {
            throw cell.malformed()
        }
        if dimensions == 0 { return [] }
        guard dimensions == 1, let count = reader.int32(), let _ = reader.int32(), count >= 0 else {
            throw PGError(.decoding, message: "only one-dimensional arrays decode into [String]", column: cell.columnName)
        }
        var elements: [String] = []
        elements.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let length = reader.int32() else { throw cell.malformed() }
            guard length >= 0 else {
                throw PGError(.decoding, message: "the array holds NULL, which [String] cannot", column: cell.columnName)
            }
            guard let bytes = reader.bytes(Int(length)) else { throw cell.malformed() }
            elements.append(String(decoding: bytes, as: UTF8.self))
        }
        return elements
    }
}

/// Reads big-endian fields from a binary value without copying.
struct PGBinaryReader {
    private let buffer: UnsafeRawBufferPointer
    private var offset = 0

    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    mutating func int32() -> Int32? {
        guard offset + 4 <= buffer.count else { return nil }
        defer { offset += 4 }
        return Int32(bigEndian: buffer.loadUnaligned(fromByteOffset: offset, as: Int32.self))
    }

    mutating func bytes(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, offset + count <= buffer.count else { return nil }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + count])
    }
}

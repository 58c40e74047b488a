public import Foundation

/// One non-NULL value of a result, in PostgreSQL's binary format; `bytes` is valid only while decoding.
public struct PGCell {
    public let type: PGTypeOID
    public let bytes: UnsafeRawBufferPointer
    let result: PGResult
    let column: Int

    /// The column's name, for error messages.
    public var columnName: String { result.columnName(column) }

    /// The error for a column whose type cannot become `expected`.
    public func typeMismatch(expected: String) -> PGError {
        PGError(.decoding, message: "column of type \(type) cannot be decoded as \(expected)", column: columnName)
    }

    func malformed() -> PGError {
        PGError(.decoding, message: "malformed binary value of type \(type)", column: columnName)
    }

    func fixedWidth<T: FixedWidthInteger>(_: T.Type) throws -> T {
        guard bytes.count == MemoryLayout<T>.size else { throw malformed() }
        return T(bigEndian: bytes.loadUnaligned(as: T.self))
    }
}

/// A Swift type that a column decodes into.
public protocol PGDecodable {
    /// Decodes a non-NULL value.
    static func decode(from cell: PGCell) throws -> Self
    /// The value for SQL NULL; throws unless the type is `Optional`.
    static func decodeNull(column: String) throws -> Self
}

extension PGDecodable {
    public static func decodeNull(column: String) throws -> Self {
        throw PGError(.decoding, message: "NULL cannot be decoded as \(Self.self)", column: column)
    }
}

extension Optional: PGDecodable where Wrapped: PGDecodable {
    public static func decode(from cell: PGCell) throws -> Wrapped? { try Wrapped.decode(from: cell) }
    public static func decodeNull(column: String) throws -> Wrapped? { nil }
}

extension String: PGDecodable {
    public static func decode(from cell: PGCell) throws -> String {
        if cell.type.isText || cell.type == .json { return String(decoding: cell.bytes, as: UTF8.self) }
        switch cell.type {
        case .jsonb:
            guard cell.bytes.first == 1 else { throw cell.malformed() }
            return String(decoding: UnsafeRawBufferPointer(rebasing: cell.bytes.dropFirst()), as: UTF8.self)
        case .uuid:
            return try UUID.decode(from: cell).uuidString.lowercased()
        default:
            throw cell.typeMismatch(expected: "String")
        }
    }
}

extension FixedWidthInteger where Self: SignedInteger {
    /// Decodes int2, int4, int8 and oid, failing when the value does not fit.
    static func decodeInteger(from cell: PGCell) throws -> Self {
        let wide: Int64
        switch cell.type {
        case .int2: wide = Int64(try cell.fixedWidth(Int16.self))
        case .int4: wide = Int64(try cell.fixedWidth(Int32.self))
        case .int8: wide = try cell.fixedWidth(Int64.self)
        case .oid: wide = Int64(try cell.fixedWidth(UInt32.self))
        default: throw cell.typeMismatch(expected: "\(Self.self)")
        }
        guard let value = Self(exactly: wide) else {
            throw PGError(.decoding, message: "value does not fit in \(Self.self)", column: cell.columnName)
        }
        return value
    }
}

extension Int: PGDecodable {
    public static func decode(from cell: PGCell) throws -> Int { try decodeInteger(from: cell) }
}

extension Int64: PGDecodable {
    public static func decode(from cell: PGCell) throws -> Int64 { try decodeInteger(from: cell) }
}

extension Int32: PGDecodable {
    public static func decode(from cell: PGCell) throws -> Int32 { try decodeInteger(from: cell) }
}

extension Int16: PGDecodable {
    public static func decode(from cell: PGCell) throws -> Int16 { try decodeInteger(from: cell) }
}

extension Bool: PGDecodable {
    public static func decode(from cell: PGCell) throws -> Bool {
        guard cell.type == .bool else { throw cell.typeMismatch(expected: "Bool") }
        guard cell.bytes.count == 1 else { throw cell.malformed() }
        return cell.bytes[0] != 0
    }
}

extension Double: PGDecodable {
    public static func decode(from cell: PGCell) throws -> Double {
        switch cell.type {
        case .float8: return Double(bitPattern: try cell.fixedWidth(UInt64.self))
        case .float4: return Double(Float(bitPattern: try cell.fixedWidth(UInt32.self)))
        case .int2, .int4, .int8: return Double(try Int64.decode(from: cell))
        default: throw cell.typeMismatch(expected: "Double")
        }
    }
}

extension Date: PGDecodable {
    public static func decode(from cell: PGCell) throws -> Date {
        switch cell.type {
        case .timestamptz, .timestamp:
            let microseconds = try cell.fixedWidth(Int64.self)
            if microseconds == .max { return .distantFuture }
            if microseconds == .min { return .distantPast }
            // Split whole seconds from the rest so that microseconds survive the Double conversion.
            let sinceUnix = microseconds + Date.postgresEpochOffsetMicroseconds
            let seconds = sinceUnix.quotientAndRemainder(dividingBy: 1_000_000)
            return Date(timeIntervalSince1970: Double(seconds.quotient) + Double(seconds.remainder) / 1_000_000)
        case .date:
            let days = try cell.fixedWidth(Int32.self)
            if days == .max { return .distantFuture }
            if days == .min { return .distantPast }
            return Date(timeIntervalSince1970: 946_684_800 + Double(days) * 86_400)
        default:
            throw cell.typeMismatch(expected: "Date")
        }
    }
}

extension UUID: PGDecodable {
    public static func decode(from cell: PGCell) throws -> UUID {
        switch cell.type {
        case .uuid:
            guard cell.bytes.count == 16 else { throw cell.malformed() }
            var value: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: cell.bytes) }
            return UUID(uuid: value)
        case .text, .varchar:
            guard let value = UUID(uuidString: String(decoding: cell.bytes, as: UTF8.self)) else { throw cell.malformed() }
            return value
        default:
            throw cell.typeMismatch(expected: "UUID")
        }
    }
}

extension Array: PGDecodable where Element: PGArrayElement {
    public static func decode(from cell: PGCell) throws -> [Element] { try Element.decodeArray(from: cell) }
}

extension Data: PGDecodable {
    public static func decode(from cell: PGCell) throws -> Data {
        guard cell.type == .bytea else { throw cell.typeMismatch(expected: "Data") }
        return Data(cell.bytes)
    }
}

extension PGJSON: PGDecodable where Value: Decodable {
    public static func decode(from cell: PGCell) throws -> PGJSON<Value> {
        var json: UnsafeRawBufferPointer
        switch cell.type {
        case .json, .text, .varchar: json = cell.bytes
        case .jsonb:
            guard cell.bytes.first == 1 else { throw cell.malformed() }
            json = UnsafeRawBufferPointer(rebasing: cell.bytes.dropFirst())
        default: throw cell.typeMismatch(expected: "JSON")
        }
        do {
            return PGJSON(try JSONDecoder().decode(Value.self, from: Data(json)))
        } catch {
            throw PGError(.decoding, message: "JSON does not decode as \(Value.self)", column: cell.columnName)
        }
    }
}

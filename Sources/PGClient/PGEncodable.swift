public import Foundation

/// A Swift value that can be bound as a statement parameter.
public protocol PGEncodable: Sendable {
    /// Appends this value as the next parameter.
    func encode(into bindings: inout PGBindings)
}

extension PGBindings {
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T, type: PGTypeOID) {
        appendBinary(type: type) { buffer in
            withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
        }
    }
}

extension String: PGEncodable {
    public func encode(into bindings: inout PGBindings) { bindings.appendText(self) }
}

extension Substring: PGEncodable {
    public func encode(into bindings: inout PGBindings) { bindings.appendText(String(self)) }
}

extension Int: PGEncodable {
    public func encode(into bindings: inout PGBindings) { bindings.appendBigEndian(Int64(self), type: .int8) }
}

extension Int64: PGEncodable {
    public func encode(into bindings: inout PGBindings) { bindings.appendBigEndian(self, type: .int8) }
}

extension Int32: PGEncodable {
    public func encode(into bindings: inout PGBindings) { bindings.appendBigEndian(self, type: .int4) }
}

extension Int16: PGEncodable {
    public func encode(into bindings: inout PGBindings) { bindings.appendBigEndian(self, type: .int2) }
}

extension Bool: PGEncodable {
    public func encode(into bindings: inout PGBindings) {
        bindings.appendBinary(type: .bool) { $0.append(self ? 1 : 0) }
    }
}

extension Double: PGEncodable {
    public func encode(into bindings: inout PGBindings) { bindings.appendBigEndian(bitPattern, type: .float8) }
}

extension Float: PGEncodable {
    public func encode(into bindings: inout PGBindings) { bindings.appendBigEndian(bitPattern, type: .float4) }
}

extension Date: PGEncodable {
    /// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01 UTC).
    static let postgresEpochOffsetMicroseconds: Int64 = 946_684_800_000_000

    /// Microseconds since PostgreSQL's epoch, as a binary `timestamptz` holds them (`distantFuture` and
    /// `distantPast` as infinity); nil when out of range.
    var postgresMicroseconds: Int64? {
        if self == .distantFuture { return .max }
        if self == .distantPast { return .min }
        let sinceUnix = (timeIntervalSince1970 * 1_000_000).rounded()
        guard sinceUnix.isFinite, abs(sinceUnix) < 9.0e18 else { return nil }
        return Int64(sinceUnix) - Self.postgresEpochOffsetMicroseconds
    }

    public func encode(into bindings: inout PGBindings) {
        guard let microseconds = postgresMicroseconds else {
            bindings.fail(PGError(.encoding, message: "parameter $\(bindings.count + 1) is a date out of range"))
            return
        }
        bindings.appendBigEndian(microseconds, type: .timestamptz)
    }
}

extension UUID: PGEncodable {
    public func encode(into bindings: inout PGBindings) {
        bindings.appendBinary(type: .uuid) { buffer in
            withUnsafeBytes(of: uuid) { buffer.append(contentsOf: $0) }
        }
    }
}

extension Array: PGEncodable where Element: PGArrayElement {
    /// `[UInt8]` binds as `bytea`, `[String]` as `text[]`.
    public func encode(into bindings: inout PGBindings) { Element.encodeArray(self, into: &bindings) }
}

extension Data: PGEncodable {
    /// Binds bytes as `bytea`.
    public func encode(into bindings: inout PGBindings) {
        bindings.appendBinary(type: .bytea) { $0.append(contentsOf: self) }
    }
}

extension Optional: PGEncodable where Wrapped: PGEncodable {
    public func encode(into bindings: inout PGBindings) {
        if let self { self.encode(into: &bindings) } else { bindings.appendNull() }
    }
}

/// A `Codable` value stored as JSON: binds as text (the server casts to json or jsonb), decodes json and jsonb.
public struct PGJSON<Value: Sendable>: Sendable {
    public var value: Value
    public init(_ value: Value) { self.value = value }
}

extension PGJSON: PGEncodable where Value: Encodable {
    public func encode(into bindings: inout PGBindings) {
        do {
            let data = try JSONEncoder().encode(value)
            bindings.appendText(String(decoding: data, as: UTF8.self))
        } catch {
            bindings.fail(PGError(.encoding, message: "parameter $\(bindings.count + 1) could not be encoded as JSON"))
        }
    }
}

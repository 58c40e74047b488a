public import Foundation

/// A one-dimensional array parameter in PostgreSQL's binary form, written element by element as it is made: for
/// arrays of thousands of elements that would otherwise be gathered into a Swift array first. The elements come
/// from a closure rather than a generic collection because this module's generics are not specialized in the
/// caller's module, and an unspecialized walk cost microseconds per element.
public struct PGBinaryArray: PGEncodable {
    private let type: PGTypeOID
    private var bytes: [UInt8] = []
    private var problem: String?

    private init(type: PGTypeOID) { self.type = type }

    /// `text[]` of `count` elements, the i-th being `element(i)`; nil elements are NULL. An element holding a
    /// NUL character, which `text` cannot, fails the statement before it is sent.
    public static func text(count: Int, _ element: (Int) -> String?) -> PGBinaryArray {
        var array = PGBinaryArray(type: .textArray)
        array.write(elementType: .text, count: count) { array in
            var hasNull = false
            for index in 0..<count {
                guard var text = element(index) else {
                    array.append(Int32(-1))
                    hasNull = true
                    continue
                }
                text.withUTF8 { utf8 in
                    if utf8.contains(0) { array.problem = array.problem ?? "has an element with a NUL character" }
                    array.append(Int32(utf8.count))
                    array.bytes.append(contentsOf: utf8)
                }
            }
            return hasNull
        }
        return array
    }

    /// `timestamptz[]` of `count` elements, the i-th being `element(i)`, to the microsecond.
    public static func timestamptz(count: Int, _ element: (Int) -> Date) -> PGBinaryArray {
        var array = PGBinaryArray(type: .timestamptzArray)
        array.write(elementType: .timestamptz, count: count) { array in
            for index in 0..<count {
                guard let microseconds = element(index).postgresMicroseconds else {
                    array.problem = array.problem ?? "has a date out of range"
                    array.append(Int32(-1))
                    continue
                }
                array.append(Int32(8))
                array.append(microseconds)
            }
            return false
        }
        return array
    }

    public func encode(into bindings: inout PGBindings) {
        if let problem { return bindings.fail(PGError(.encoding, message: "parameter $\(bindings.count + 1) \(problem)")) }
        bindings.appendBinary(type: type) { $0.append(contentsOf: bytes) }
    }

    /// The header (dimensions, a flag set when an element is NULL, the element type, the length and lower
    /// bound), then what `writeElements` appends: each element's length (−1 for NULL) and bytes. It answers
    /// whether it wrote a NULL.
    private mutating func write(elementType: PGTypeOID, count: Int, _ writeElements: (inout PGBinaryArray) -> Bool) {
        bytes.reserveCapacity(20 + 16 * count)
        append(Int32(count == 0 ? 0 : 1))
        let flags = bytes.count
        append(Int32(0))
        append(Int32(bitPattern: elementType.rawValue))
        if count > 0 {
            append(Int32(count))
            append(Int32(1))
        }
        if writeElements(&self) { bytes[flags + 3] = 1 }
    }

    private mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }
}

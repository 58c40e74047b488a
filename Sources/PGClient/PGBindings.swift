/// Parameter values laid out for libpq: one byte buffer, with each value's offset, length, format and type.
public struct PGBindings: Sendable {
    /// Text parameters are NUL-terminated in `storage`; binary ones are not.
    var storage: [UInt8] = []
    var offsets: [Int] = []
    var lengths: [Int32] = []
    var formats: [Int32] = []
    var types: [UInt32] = []
    /// The first value that could not be encoded; interpolation cannot throw, so execution does.
    var encodingError: PGError?

    public init() {}

    init(capacity: Int) {
        offsets.reserveCapacity(capacity)
        lengths.reserveCapacity(capacity)
        formats.reserveCapacity(capacity)
        types.reserveCapacity(capacity)
    }

    /// How many parameters are bound.
    public var count: Int { offsets.count }

    /// Binds SQL NULL.
    public mutating func appendNull() {
        offsets.append(-1)
        lengths.append(0)
        formats.append(0)
        types.append(0)
    }

    /// Binds text whose type the server infers from the statement (text, uuid, jsonb, enum …).
    public mutating func appendText(_ text: String, type: PGTypeOID = .unspecified) {
        var text = text
        text.withUTF8 { utf8 in
            if utf8.contains(0) {
                encodingError = encodingError ?? PGError(.encoding, message: "parameter $\(count + 1) contains a NUL character")
            }
            offsets.append(storage.count)
            storage.append(contentsOf: utf8)
            storage.append(0)
            lengths.append(Int32(utf8.count))
        }
        formats.append(0)
        types.append(type.rawValue)
    }

    /// Binds a value in PostgreSQL's binary format for `type`, written by `write`.
    public mutating func appendBinary(type: PGTypeOID, _ write: (inout [UInt8]) -> Void) {
        let start = storage.count
        write(&storage)
        let length = storage.count - start
        guard length <= Int(Int32.max) else {
            encodingError = encodingError ?? PGError(.encoding, message: "parameter $\(count + 1) is larger than 2 GiB")
            storage.removeSubrange(start...)
            appendNull()
            return
        }
        offsets.append(start)
        lengths.append(Int32(length))
        formats.append(1)
        types.append(type.rawValue)
    }

    /// Records that a parameter could not be encoded; executing the query throws `error`.
    public mutating func fail(_ error: PGError) {
        encodingError = encodingError ?? error
        appendNull()
    }

    /// Calls `body` with the C arrays libpq wants; pointers are valid only inside `body`.
    func withUnsafeParameters<R>(
        _ body: (
            _ count: Int32, _ types: UnsafePointer<UInt32>?, _ values: UnsafePointer<UnsafePointer<CChar>?>?,
            _ lengths: UnsafePointer<Int32>?, _ formats: UnsafePointer<Int32>?
        ) throws -> R
    ) rethrows -> R {
        if offsets.isEmpty { return try body(0, nil, nil, nil, nil) }
        // A zero-length value still needs a non-NULL pointer (NULL means SQL NULL).
        let storage = self.storage.isEmpty ? [0] : self.storage
        return try storage.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress)
            return try withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: offsets.count) { values in
                for (i, offset) in offsets.enumerated() {
                    values[i] = offset < 0 ? nil : (base! + offset).assumingMemoryBound(to: CChar.self)
                }
                return try body(
                    Int32(offsets.count), types, UnsafePointer(values.baseAddress), lengths, formats)
            }
        }
    }
}

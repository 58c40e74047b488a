/// Parameter values laid out for libpq: one byte buffer, and each value's offset, length, format and type.
public struct PGBindings: Sendable {
    struct Parameter: Sendable {
        /// Where the value starts in `storage`; -1 for NULL.
        var offset: Int
        var length: Int32
        /// 0 text (NUL-terminated in `storage`), 1 binary.
        var format: Int32
        var type: UInt32
    }

    var storage: [UInt8] = []
    var parameters: [Parameter] = []
    /// The first value that could not be encoded; interpolation cannot throw, so execution does.
    var encodingError: PGError?

    public init() {}

    init(capacity: Int) {
        parameters.reserveCapacity(capacity)
    }

    /// How many parameters are bound.
    public var count: Int { parameters.count }

    /// The parameter types, for preparing a statement.
    var types: [UInt32] { parameters.map(\.type) }

    /// Binds SQL NULL.
    public mutating func appendNull() {
        parameters.append(Parameter(offset: -1, length: 0, format: 0, type: 0))
    }

    /// Binds text whose type the server infers from the statement (text, uuid, jsonb, enum …).
    public mutating func appendText(_ text: String, type: PGTypeOID = .unspecified) {
        var text = text
        text.withUTF8 { utf8 in
            if utf8.contains(0) {
                encodingError = encodingError ?? PGError(.encoding, message: "parameter $\(count + 1) contains a NUL character")
            }
            parameters.append(Parameter(offset: storage.count, length: Int32(utf8.count), format: 0, type: type.rawValue))
            storage.append(contentsOf: utf8)
            storage.append(0)
        }
    }

    /// Binds a value in PostgreSQL's binary format for `type`, written by `write`.
    public mutating func appendBinary(type: PGTypeOID, _ write: (inout [UInt8]) -> Void) {
        let start = storage.count
        write(&storage)
        let length = storage.count - start
        guard length <= Int(Int32.max) else {
            storage.removeSubrange(start...)
            fail(PGError(.encoding, message: "parameter $\(count + 1) is larger than 2 GiB"))
            return
        }
        parameters.append(Parameter(offset: start, length: Int32(length), format: 1, type: type.rawValue))
    }

    /// Records that a parameter could not be encoded; executing the query throws `error`.
    public mutating func fail(_ error: PGError) {
        encodingError = encodingError ?? error
        appendNull()
    }

    /// Calls `body` with the C arrays libpq wants, laid out on the stack; pointers are valid only inside `body`.
    func withUnsafeParameters<R>(
        _ body: (
            _ count: Int32, _ values: UnsafePointer<UnsafePointer<CChar>?>?, _ lengths: UnsafePointer<Int32>?,
            _ formats: UnsafePointer<Int32>?
        ) throws -> R
    ) rethrows -> R {
        let count = parameters.count
        if count == 0 { return try body(0, nil, nil, nil) }
        // A zero-length value still needs a non-NULL pointer (NULL means SQL NULL).
        let storage = self.storage.isEmpty ? [0] : self.storage
        return try storage.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress!)
            return try withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: count) { values in
                try withUnsafeTemporaryAllocation(of: Int32.self, capacity: count * 2) { numbers in
                    for (i, parameter) in parameters.enumerated() {
                        values[i] = parameter.offset < 0 ? nil : (base + parameter.offset).assumingMemoryBound(to: CChar.self)
                        numbers[i] = parameter.length
                        numbers[count + i] = parameter.format
                    }
                    let lengths = UnsafePointer(numbers.baseAddress!)
                    return try body(Int32(count), UnsafePointer(values.baseAddress), lengths, lengths + count)
                }
            }
        }
    }
}

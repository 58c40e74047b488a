public import Foundation
import CLibCrypto

/// HMAC-SHA256 (RFC 2104), for webhook signatures, audit hashing and HS256 JWTs.
public enum HMACSHA256 {
    /// The MAC length in bytes.
    public static let byteCount = 32

    /// The 32-byte HMAC-SHA256 of `message` under `key`.
    @inlinable
    public static func authenticationCode(for message: some ContiguousBytes, using key: SymmetricKey) -> [UInt8] {
        message.withUnsafeBytes { message in key.withUnsafeBytes { macBytes(message, key: $0) } }
    }

    /// The 32-byte HMAC-SHA256 of `message` under raw `key` bytes.
    @inlinable
    public static func authenticationCode(for message: some ContiguousBytes, key: some ContiguousBytes) -> [UInt8] {
        message.withUnsafeBytes { message in key.withUnsafeBytes { macBytes(message, key: $0) } }
    }

    /// True when `mac` is the HMAC of `message` under `key`, compared in constant time.
    @inlinable
    public static func isValidAuthenticationCode(_ mac: some ContiguousBytes, for message: some ContiguousBytes, using key: SymmetricKey) -> Bool {
        ConstantTime.equals(authenticationCode(for: message, using: key), mac)
    }

    @usableFromInline
    static func macBytes(_ message: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: byteCount) { buffer, initialized in
            var length: UInt32 = 0
            // An empty key still needs a valid pointer.
            let keyPointer = key.baseAddress ?? UnsafeRawPointer(buffer.baseAddress!)
            precondition(key.count <= Int(Int32.max), "HMAC key too long")
            let result = HMAC(
                Algorithms.shared.sha256, keyPointer, Int32(clamping: key.count),
                message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count, buffer.baseAddress, &length)
            precondition(result != nil && length == UInt32(byteCount), "HMAC-SHA256 failed")
            initialized = byteCount
        }
    }
}

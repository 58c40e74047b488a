public import Foundation
import CLibCrypto

/// SHA-256 (FIPS 180-4), for API-key and services-token hashes.
public enum SHA256 {
    /// The digest length in bytes.
    public static let byteCount = 32

    /// The 32-byte digest of `data`.
    @inlinable
    public static func hash(_ data: some ContiguousBytes) -> [UInt8] {
        data.withUnsafeBytes { hashBytes($0) }
    }

    /// The digest of `data` as 64 lowercase hex characters.
    @inlinable
    public static func hexDigest(_ data: some ContiguousBytes) -> String {
        Hex.encode(hash(data))
    }

    @usableFromInline
    static func hashBytes(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: byteCount) { buffer, initialized in
            var length: UInt32 = 0
            let ok = EVP_Digest(data.baseAddress, data.count, buffer.baseAddress, &length, Algorithms.shared.sha256, nil)
            // EVP_Digest over a fetched SHA-256 only fails on allocation failure, which Swift treats as fatal too.
            precondition(ok == 1 && length == UInt32(byteCount), "EVP_Digest(SHA256) failed")
            initialized = byteCount
        }
    }
}

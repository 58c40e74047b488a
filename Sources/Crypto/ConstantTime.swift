public import Foundation
import CLibCrypto

/// Comparisons whose timing does not depend on the bytes compared.
public enum ConstantTime {
    /// True when `lhs` and `rhs` hold the same bytes; time depends only on the lengths, never on the content.
    @inlinable
    public static func equals(_ lhs: some ContiguousBytes, _ rhs: some ContiguousBytes) -> Bool {
        lhs.withUnsafeBytes { lhs in rhs.withUnsafeBytes { rhs in equalBytes(lhs, rhs) } }
    }

    @usableFromInline
    static func equalBytes(_ lhs: UnsafeRawBufferPointer, _ rhs: UnsafeRawBufferPointer) -> Bool {
        guard lhs.count == rhs.count else {
            // Still touch every byte of one input, so a length mismatch costs what a full comparison would.
            if let base = lhs.baseAddress { _ = CRYPTO_memcmp(base, base, lhs.count) }
            return false
        }
        guard lhs.count > 0 else { return true }
        return CRYPTO_memcmp(lhs.baseAddress!, rhs.baseAddress!, lhs.count) == 0
    }
}

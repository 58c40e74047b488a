public import Foundation
import CLibCrypto

/// A secret key for AES-256-GCM or HMAC; bytes are wiped with `OPENSSL_cleanse` when the last copy goes away.
public struct SymmetricKey: Sendable {
    /// Key sizes for `init(size:)`.
    public struct Size: Sendable, Hashable {
        /// The size in bits.
        public let bitCount: Int
        /// A 256-bit key, the one size AES.GCM accepts here.
        public static let bits256 = Size(bitCount: 256)

        /// A size in bits (a multiple of 8).
        public init(bitCount: Int) {
            precondition(bitCount > 0 && bitCount % 8 == 0, "key size must be a positive multiple of 8 bits")
            self.bitCount = bitCount
        }
    }

    let storage: SymmetricKeyStorage

    /// A fresh random key from the CSPRNG.
    public init(size: Size = .bits256) {
        do {
            storage = try SymmetricKeyStorage(randomByteCount: size.bitCount / 8)
        } catch {
            // RAND_bytes only fails when the process has no entropy source; no safe key can be made then.
            fatalError("CSPRNG unavailable: \(error)")
        }
    }

    /// A key holding a copy of `data` (the caller should wipe its own copy).
    public init(data: some ContiguousBytes) {
        storage = data.withUnsafeBytes { SymmetricKeyStorage(copying: $0) }
    }

    /// The key length in bits.
    public var bitCount: Int { storage.count * 8 }

    /// Calls `body` with the key bytes; do not let them escape.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(storage.bytes)
    }
}

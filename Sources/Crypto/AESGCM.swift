public import Foundation

/// The Advanced Encryption Standard.
public enum AES {
    /// AES-256 in Galois/Counter Mode: authenticated encryption with associated data.
    public enum GCM {
        /// Encrypts and authenticates `message`; `authenticatedData` is bound to the box but not stored in it.
        @inlinable
        public static func seal(
            _ message: some ContiguousBytes, using key: SymmetricKey, nonce: Nonce? = nil,
            authenticating authenticatedData: some ContiguousBytes = [UInt8]()
        ) throws -> SealedBox {
            // Inlined so callers specialise the byte access; the work happens in the non-generic `sealBytes`.
            try message.withUnsafeBytes { plaintext in
                try authenticatedData.withUnsafeBytes { aad in try sealBytes(plaintext, aad: aad, key: key, nonce: nonce) }
            }
        }

        /// Verifies and decrypts `box`; throws `authenticationFailure` if it was tampered with or the key or data differ.
        @inlinable
        public static func open(
            _ box: SealedBox, using key: SymmetricKey, authenticating authenticatedData: some ContiguousBytes = [UInt8]()
        ) throws -> [UInt8] {
            try authenticatedData.withUnsafeBytes { aad in try openBytes(box, aad: aad, key: key) }
        }

        @usableFromInline
        static func sealBytes(_ plaintext: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, key: SymmetricKey, nonce: Nonce?) throws
            -> SealedBox
        {
            let noPrefix = UnsafeRawBufferPointer(start: nil, count: 0)
            return SealedBox(unchecked: try GCMSealing.seal(plaintext, aad: aad, key: key.storage, nonce: nonce, prefix: noPrefix))
        }

        @usableFromInline
        static func openBytes(_ box: SealedBox, aad: UnsafeRawBufferPointer, key: SymmetricKey) throws -> [UInt8] {
            try box.combined.withUnsafeBytes { combined in try GCMSealing.open(combined, aad: aad, key: key.storage) }
        }
    }
}

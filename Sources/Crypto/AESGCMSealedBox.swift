public import Foundation

extension AES.GCM {
    /// A sealed message laid out as nonce (12) ‖ ciphertext ‖ tag (16).
    public struct SealedBox: Sendable {
        /// nonce ‖ ciphertext ‖ tag, ready to store or send.
        public let combined: [UInt8]

        static let overhead = GCMContext.nonceByteCount + GCMContext.tagByteCount

        /// Wraps bytes produced by `combined`; throws `malformedInput` when shorter than nonce and tag.
        public init(combined: [UInt8]) throws {
            guard combined.count >= Self.overhead else {
                throw CryptoError(.malformedInput, detail: "sealed box shorter than nonce and tag")
            }
            self.combined = combined
        }

        /// Wraps bytes produced by `combined`; throws `malformedInput` when shorter than nonce and tag.
        public init(combined: some ContiguousBytes) throws {
            try self.init(combined: combined.withUnsafeBytes { [UInt8]($0) })
        }

        /// Assembles a box from its parts; the tag must be 16 bytes.
        public init(nonce: Nonce, ciphertext: some ContiguousBytes, tag: some ContiguousBytes) throws {
            let tagBytes = tag.withUnsafeBytes { [UInt8]($0) }
            guard tagBytes.count == GCMContext.tagByteCount else {
                throw CryptoError(.malformedInput, detail: "a GCM tag is 16 bytes")
            }
            var bytes = nonce.withUnsafeBytes { [UInt8]($0) }
            ciphertext.withUnsafeBytes { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: tagBytes)
            self.combined = bytes
        }

        init(unchecked combined: [UInt8]) {
            self.combined = combined
        }

        /// The nonce the box was sealed with.
        public var nonce: Nonce {
            combined.withUnsafeBytes { Nonce(copying: UnsafeRawBufferPointer(rebasing: $0[0..<GCMContext.nonceByteCount]))! }
        }

        /// The encrypted message, as long as the plaintext.
        public var ciphertext: ArraySlice<UInt8> {
            combined[GCMContext.nonceByteCount..<(combined.count - GCMContext.tagByteCount)]
        }

        /// The 16-byte authentication tag.
        public var tag: ArraySlice<UInt8> { combined[(combined.count - GCMContext.tagByteCount)...] }
    }
}

public import Foundation

extension AES.GCM {
    /// A 96-bit GCM nonce; never reuse one with the same key.
    public struct Nonce: Sendable {
        var bytes: (UInt64, UInt32)

        /// A fresh random nonce from the buffered CSPRNG.
        public init() {
            bytes = (0, 0)
            do {
                try withUnsafeMutableBytes(of: &bytes) { (buffer) throws in
                    try SecureRandom.fill(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<12]))
                }
            } catch {
                fatalError("CSPRNG unavailable: \(error)")
            }
        }

        /// A nonce from exactly 12 bytes.
        public init(data: some ContiguousBytes) throws {
            let nonce: Nonce? = data.withUnsafeBytes { Nonce(copying: $0) }
            guard let nonce else { throw CryptoError(.invalidNonceSize, detail: "a GCM nonce is 12 bytes") }
            self = nonce
        }

        init?(copying source: UnsafeRawBufferPointer) {
            guard source.count == GCMContext.nonceByteCount else { return nil }
            bytes = (0, 0)
            withUnsafeMutableBytes(of: &bytes) { $0.copyMemory(from: source) }
        }

        func copy(to destination: UnsafeMutableRawPointer) {
            Swift.withUnsafeBytes(of: bytes) { destination.copyMemory(from: $0.baseAddress!, byteCount: GCMContext.nonceByteCount) }
        }

        /// Calls `body` with the 12 nonce bytes.
        public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            try Swift.withUnsafeBytes(of: bytes) { try body(UnsafeRawBufferPointer(rebasing: $0[0..<12])) }
        }
    }
}

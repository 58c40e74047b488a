import CLibCrypto

/// Owns the key bytes and the AES-GCM contexts keyed with them.
final class SymmetricKeyStorage: @unchecked Sendable {
    // Safe to share: `bytes` is written once in init and only read afterwards; the contexts are handed out
    // exclusively by the two Mutex-guarded pools.
    let bytes: UnsafeRawBufferPointer
    let count: Int
    let encryptContexts: GCMContextPool
    let decryptContexts: GCMContextPool

    private init(allocated: UnsafeMutableRawBufferPointer) {
        bytes = UnsafeRawBufferPointer(allocated)
        count = allocated.count
        encryptContexts = GCMContextPool(direction: .encrypt)
        decryptContexts = GCMContextPool(direction: .decrypt)
    }

    convenience init(copying source: UnsafeRawBufferPointer) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(source.count, 1), alignment: 16)
        if source.count > 0 { buffer.copyMemory(from: source) }
        self.init(allocated: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<source.count]))
    }

    convenience init(randomByteCount: Int) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(randomByteCount, 1), alignment: 16)
        do {
            try SecureRandom.fill(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<randomByteCount]))
        } catch {
            buffer.deallocate()
            throw error
        }
        self.init(allocated: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<randomByteCount]))
    }

    deinit {
        if let base = bytes.baseAddress {
            OPENSSL_cleanse(UnsafeMutableRawPointer(mutating: base), count)
            base.deallocate()
        }
    }
}

import CLibCrypto
import Synchronization

/// Random bytes from OpenSSL's CSPRNG (`RAND_bytes`), buffered because one call costs several seals.
///
/// Small requests are served from a 4 KiB batch under a lock; served bytes are wiped from the batch at once,
/// so the buffer never holds a nonce that was already handed out. resolverd does not fork after start; a child of
/// `fork()` would share the parent's unused batch, so such a child must not seal.
public enum SecureRandom {
    static let batchSize = 4096
    /// Requests above this size skip the batch and call `RAND_bytes` directly.
    static let directThreshold = 256

    private static let pool = Mutex(RandomBatch(size: batchSize))

    /// Fills `buffer` with cryptographically secure random bytes.
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) throws {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        if buffer.count > directThreshold {
            try direct(base, count: buffer.count)
            return
        }
        try pool.withLock { (batch: inout RandomBatch) throws in
            try batch.take(into: base, count: buffer.count)
        }
    }

    /// Returns `count` cryptographically secure random bytes.
    public static func bytes(count: Int) throws -> [UInt8] {
        precondition(count >= 0, "negative byte count")
        var result = [UInt8](repeating: 0, count: count)
        try result.withUnsafeMutableBytes { (buffer) throws in try fill(buffer) }
        return result
    }

    static func direct(_ base: UnsafeMutableRawPointer, count: Int) throws {
        var offset = 0
        while offset < count {
            let chunk = min(count - offset, Int(Int32.max))
            guard RAND_bytes(base.advanced(by: offset).assumingMemoryBound(to: UInt8.self), Int32(chunk)) == 1 else {
                throw CryptoError.openSSL("RAND_bytes")
            }
            offset += chunk
        }
    }
}

/// One batch of CSPRNG output; only touched under `SecureRandom.pool`'s lock.
struct RandomBatch: ~Copyable {
    private let base: UnsafeMutableRawPointer
    private let size: Int
    private var offset: Int

    init(size: Int) {
        self.size = size
        self.base = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        self.offset = size  // empty: the first request refills
    }

    mutating func take(into destination: UnsafeMutableRawPointer, count: Int) throws {
        if size - offset < count {
            try SecureRandom.direct(base, count: size)
            offset = 0
        }
        let source = base.advanced(by: offset)
        destination.copyMemory(from: source, byteCount: count)
        OPENSSL_cleanse(source, count)
        offset += count
    }

    deinit {
        OPENSSL_cleanse(base, size)
        base.deallocate()
    }
}

import CLibCrypto

/// An `EVP_CIPHER_CTX` keyed once for AES-256-GCM in one direction; per message only the IV is set.
///
/// A plain pointer rather than a class: `GCMContextPool` owns and frees it, and skipping reference counting
/// keeps the per-message cost close to the bare C calls. Encrypt contexts carry their own 4 KiB batch of
/// CSPRNG output for nonces: a context is only ever used by the one task that checked it out, so nonces are
/// drawn without taking a lock.
struct GCMContext {
    enum Direction: Sendable { case encrypt, decrypt }

    struct State {
        let handle: OpaquePointer
        /// Encrypt contexts only; bytes before `nonceOffset` are already wiped.
        let nonceBatch: UnsafeMutableRawPointer?
        var nonceOffset: Int
    }

    static let nonceByteCount = 12
    static let tagByteCount = 16
    /// EVP update calls take an `int` length; larger inputs are fed in pieces.
    private static let maxChunk = 1 << 30

    let state: UnsafeMutablePointer<State>
    var handle: OpaquePointer { state.pointee.handle }

    init(bits: UInt) { state = UnsafeMutablePointer(bitPattern: bits)! }

    var bits: UInt { UInt(bitPattern: state) }

    /// Allocates and keys a context; the caller owns it and must `free()` it.
    init(key: UnsafeRawBufferPointer, direction: Direction) throws {
        guard key.count == 32, let keyBytes = key.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            throw CryptoError(.invalidKeySize, detail: "AES-256-GCM needs a 32-byte key, got \(key.count)")
        }
        guard let handle = EVP_CIPHER_CTX_new() else { throw CryptoError.openSSL("EVP_CIPHER_CTX_new") }
        let cipher = Algorithms.shared.aes256GCM
        let ok =
            switch direction {
            case .encrypt: EVP_EncryptInit_ex(handle, cipher, nil, keyBytes, nil)
            case .decrypt: EVP_DecryptInit_ex(handle, cipher, nil, keyBytes, nil)
            }
        guard ok == 1 else {
            EVP_CIPHER_CTX_free(handle)
            throw CryptoError.openSSL("EVP_CipherInit_ex")
        }
        let batch: UnsafeMutableRawPointer? =
            direction == .encrypt ? UnsafeMutableRawPointer.allocate(byteCount: SecureRandom.batchSize, alignment: 16) : nil
        state = UnsafeMutablePointer<State>.allocate(capacity: 1)
        state.initialize(to: State(handle: handle, nonceBatch: batch, nonceOffset: SecureRandom.batchSize))
    }

    /// Frees the context: EVP_CIPHER_CTX_free wipes the expanded key schedule, unused nonce bytes are wiped here.
    func free() {
        EVP_CIPHER_CTX_free(state.pointee.handle)
        if let batch = state.pointee.nonceBatch {
            OPENSSL_cleanse(batch, SecureRandom.batchSize)
            batch.deallocate()
        }
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// Writes a fresh random nonce from this context's batch, refilling it from `RAND_bytes` when spent.
    func writeRandomNonce(to destination: UnsafeMutableRawPointer) throws {
        guard let batch = state.pointee.nonceBatch else {
            try SecureRandom.fill(UnsafeMutableRawBufferPointer(start: destination, count: Self.nonceByteCount))
            return
        }
        var offset = state.pointee.nonceOffset
        if SecureRandom.batchSize - offset < Self.nonceByteCount {
            try SecureRandom.direct(batch, count: SecureRandom.batchSize)
            offset = 0
        }
        destination.copyMemory(from: batch + offset, byteCount: Self.nonceByteCount)
        OPENSSL_cleanse(batch + offset, Self.nonceByteCount)
        state.pointee.nonceOffset = offset + Self.nonceByteCount
    }

    /// Encrypts `plaintext` into `ciphertext` (same length) and writes the 16-byte tag.
    @inline(__always)
    func seal(
        nonce: UnsafeRawPointer, plaintext: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        ciphertext: UnsafeMutableRawPointer, tag: UnsafeMutableRawPointer
    ) throws {
        guard EVP_EncryptInit_ex(handle, nil, nil, nil, nonce.assumingMemoryBound(to: UInt8.self)) == 1 else {
            throw CryptoError.openSSL("EVP_EncryptInit_ex")
        }
        var written: Int32 = 0
        _ = try update(aad, into: nil, encrypt: true)
        let offset = try update(plaintext, into: ciphertext, encrypt: true)
        guard EVP_EncryptFinal_ex(handle, (ciphertext + offset).assumingMemoryBound(to: UInt8.self), &written) == 1 else {
            throw CryptoError.openSSL("EVP_EncryptFinal_ex")
        }
        guard resolverd_gcm_get_tag(handle, tag.assumingMemoryBound(to: UInt8.self), Int32(Self.tagByteCount)) == 1 else {
            throw CryptoError.openSSL("EVP_CTRL_AEAD_GET_TAG")
        }
    }

    /// Decrypts into `plaintext` (same length as `ciphertext`); throws `authenticationFailure` when the tag fails.
    /// On any throw the caller must wipe `plaintext`.
    @inline(__always)
    func open(
        nonce: UnsafeRawPointer, ciphertext: UnsafeRawBufferPointer, tag: UnsafeRawPointer, aad: UnsafeRawBufferPointer,
        plaintext: UnsafeMutableRawPointer
    ) throws {
        guard EVP_DecryptInit_ex(handle, nil, nil, nil, nonce.assumingMemoryBound(to: UInt8.self)) == 1 else {
            throw CryptoError.openSSL("EVP_DecryptInit_ex")
        }
        var written: Int32 = 0
        _ = try update(aad, into: nil, encrypt: false)
        let offset = try update(ciphertext, into: plaintext, encrypt: false)
        guard resolverd_gcm_set_tag(handle, tag.assumingMemoryBound(to: UInt8.self), Int32(Self.tagByteCount)) == 1 else {
            throw CryptoError.openSSL("EVP_CTRL_AEAD_SET_TAG")
        }
        guard EVP_DecryptFinal_ex(handle, (plaintext + offset).assumingMemoryBound(to: UInt8.self), &written) == 1 else {
            OpenSSLErrorQueue.clear()
            throw CryptoError(.authenticationFailure)
        }
    }

    /// Feeds `input` through the cipher in chunks libcrypto accepts (`Int32` lengths): into `output`, or as
    /// associated data when `output` is nil. Returns the bytes written.
    @inline(__always)
    private func update(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer?, encrypt: Bool) throws -> Int {
        guard let base = input.baseAddress else { return 0 }
        var written: Int32 = 0
        var consumed = 0
        var produced = 0
        while consumed < input.count {
            let chunk = min(input.count - consumed, Self.maxChunk)
            let source = (base + consumed).assumingMemoryBound(to: UInt8.self)
            let target = output.map { ($0 + produced).assumingMemoryBound(to: UInt8.self) }
            let ok =
                encrypt
                ? EVP_EncryptUpdate(handle, target, &written, source, Int32(chunk))
                : EVP_DecryptUpdate(handle, target, &written, source, Int32(chunk))
            guard ok == 1 else { throw CryptoError.openSSL(encrypt ? "EVP_EncryptUpdate" : "EVP_DecryptUpdate") }
            consumed += chunk
            produced += Int(written)
        }
        return produced
    }
}

import CLibCrypto

/// The seal and open paths shared by `AES.GCM` and `Keyring`: one output allocation, no intermediate copies,
/// no generic closures (each would cost a runtime metadata lookup per message).
enum GCMSealing {
    /// Returns prefix ‖ nonce ‖ ciphertext ‖ tag; the nonce is drawn from the CSPRNG unless given.
    static func seal(
        _ plaintext: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, key: SymmetricKeyStorage, nonce: AES.GCM.Nonce?,
        prefix: UnsafeRawBufferPointer
    ) throws -> [UInt8] {
        let nonceAt = prefix.count
        let ciphertextAt = nonceAt + GCMContext.nonceByteCount
        let tagAt = ciphertextAt + plaintext.count
        let total = tagAt + GCMContext.tagByteCount
        let pool = key.encryptContexts
        let context = try pool.checkOut(key: key.bytes)
        var failed = false
        let result = try [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            let out = UnsafeMutableRawPointer(buffer.baseAddress!)
            if prefix.count > 0 { out.copyMemory(from: prefix.baseAddress!, byteCount: prefix.count) }
            if let nonce {
                nonce.copy(to: out + nonceAt)
            } else {
                try SecureRandom.fill(UnsafeMutableRawBufferPointer(start: out + nonceAt, count: GCMContext.nonceByteCount))
            }
            do {
                try context.seal(nonce: out + nonceAt, plaintext: plaintext, aad: aad, ciphertext: out + ciphertextAt, tag: out + tagAt)
            } catch {
                failed = true
                throw error
            }
            initialized = total
        }
        if failed { pool.discard(context) } else { pool.checkIn(context) }
        return result
    }

    /// Opens nonce ‖ ciphertext ‖ tag; the plaintext buffer is wiped before any error is thrown.
    static func open(_ combined: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, key: SymmetricKeyStorage) throws -> [UInt8] {
        guard combined.count >= AES.GCM.SealedBox.overhead, let base = combined.baseAddress else {
            throw CryptoError(.malformedInput, detail: "sealed box shorter than nonce and tag")
        }
        let ciphertextCount = combined.count - AES.GCM.SealedBox.overhead
        let ciphertext = UnsafeRawBufferPointer(start: base + GCMContext.nonceByteCount, count: ciphertextCount)
        let tag = base + GCMContext.nonceByteCount + ciphertextCount
        let pool = key.decryptContexts
        let context = try pool.checkOut(key: key.bytes)
        var reusable = true
        defer { if reusable { pool.checkIn(context) } else { pool.discard(context) } }
        return try [UInt8](unsafeUninitializedCapacity: max(ciphertextCount, 1)) { buffer, initialized in
            let out = UnsafeMutableRawPointer(buffer.baseAddress!)
            do {
                try context.open(nonce: base, ciphertext: ciphertext, tag: tag, aad: aad, plaintext: out)
            } catch {
                OPENSSL_cleanse(out, ciphertextCount)
                // A failed tag leaves the context reusable (the next IV resets it); anything else drops it.
                reusable = (error as? CryptoError)?.code == .authenticationFailure
                throw error
            }
            initialized = ciphertextCount
        }
    }
}

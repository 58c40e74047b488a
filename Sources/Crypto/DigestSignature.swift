import CLibCrypto

/// SHA-256 digest-sign and digest-verify over an `EVP_PKEY`, one fresh `EVP_MD_CTX` per call.
enum DigestSignature {
    static func sign(_ message: UnsafeRawBufferPointer, key: EVPKey) throws -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw CryptoError.openSSL("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, Algorithms.shared.sha256, nil, key.handle) == 1 else {
            throw CryptoError.openSSL("EVP_DigestSignInit")
        }
        let input = message.baseAddress?.assumingMemoryBound(to: UInt8.self)
        var length = 0
        guard EVP_DigestSign(context, nil, &length, input, message.count) == 1 else { throw CryptoError.openSSL("EVP_DigestSign(size)") }
        var signature = [UInt8](repeating: 0, count: length)
        let ok = signature.withUnsafeMutableBufferPointer { EVP_DigestSign(context, $0.baseAddress, &length, input, message.count) }
        guard ok == 1 else { throw CryptoError.openSSL("EVP_DigestSign") }
        signature.removeSubrange(length...)
        return signature
    }

    static func verify(_ signature: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer, key: EVPKey) -> Bool {
        guard let context = EVP_MD_CTX_new() else { return false }
        defer {
            EVP_MD_CTX_free(context)
            OpenSSLErrorQueue.clear()
        }
        guard EVP_DigestVerifyInit(context, nil, Algorithms.shared.sha256, nil, key.handle) == 1,
            let signatureBytes = signature.baseAddress?.assumingMemoryBound(to: UInt8.self)
        else { return false }
        let input = message.baseAddress?.assumingMemoryBound(to: UInt8.self)
        return EVP_DigestVerify(context, signatureBytes, signature.count, input, message.count) == 1
    }
}

import CLibCrypto

/// An `EVP_PKEY` parsed from PEM, freed in `deinit`.
final class EVPKey: @unchecked Sendable {
    // Safe to share: the key is never mutated after parsing, and OpenSSL allows concurrent sign/verify
    // operations on one EVP_PKEY as long as each uses its own EVP_MD_CTX (which every call here does).
    let handle: OpaquePointer

    private init(handle: OpaquePointer) { self.handle = handle }

    deinit { EVP_PKEY_free(handle) }

    /// A private key from PEM: PKCS#8 (`BEGIN PRIVATE KEY`) or traditional (`BEGIN RSA PRIVATE KEY`); encrypted PEM is refused.
    static func privateKey(pem: String) throws -> EVPKey {
        try parse(pem, what: "private key") { bio in PEM_read_bio_PrivateKey(bio, nil, refusePassword, nil) }
    }

    /// A public key from PEM SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`).
    static func publicKey(pem: String) throws -> EVPKey {
        try parse(pem, what: "public key") { bio in PEM_read_bio_PUBKEY(bio, nil, refusePassword, nil) }
    }

    func isA(_ name: String) -> Bool { EVP_PKEY_is_a(handle, name) == 1 }

    var bits: Int { Int(EVP_PKEY_get_bits(handle)) }

    /// The EC group name ("prime256v1" for P-256), or nil for other key types.
    var curveName: String? {
        var buffer = [CChar](repeating: 0, count: 64)
        var length = 0
        let ok = buffer.withUnsafeMutableBufferPointer {
            EVP_PKEY_get_utf8_string_param(handle, "group", $0.baseAddress, $0.count, &length)
        }
        guard ok == 1 else {
            OpenSSLErrorQueue.clear()
            return nil
        }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func parse(_ pem: String, what: String, _ read: (OpaquePointer) -> OpaquePointer?) throws -> EVPKey {
        var bytes = Array(pem.utf8)
        defer { wipe(&bytes) }
        guard bytes.count < Int(Int32.max) else { throw CryptoError(.invalidPEM, detail: "\(what) PEM too large") }
        let key: OpaquePointer? = bytes.withUnsafeBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            return read(bio)
        }
        guard let key else {
            throw CryptoError(.invalidPEM, detail: "\(what) PEM did not parse: \(OpenSSLErrorQueue.drain())")
        }
        return EVPKey(handle: key)
    }
}

/// A PEM password callback that supplies none, so an encrypted key fails instead of prompting on a terminal.
private func refusePassword(
    _ buffer: UnsafeMutablePointer<CChar>?, _ size: Int32, _ writing: Int32, _ userData: UnsafeMutableRawPointer?
) -> Int32 {
    0
}

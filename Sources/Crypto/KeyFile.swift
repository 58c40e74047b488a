#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads and writes keyring key files: 32 random bytes, raw or base64 (whitespace trimmed), mode 0600 or stricter.
enum KeyFile {
    static let keyByteCount = 32
    /// Anything larger cannot be a key in either encoding.
    private static let maxFileSize = 1024

    /// Loads the key in `path`, refusing group/other access, non-regular files and wrong lengths.
    static func load(path: String) throws -> SymmetricKey {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CryptoError(.keyFileUnreadable, path: path, detail: "open: \(errnoText())") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw CryptoError(.keyFileUnreadable, path: path, detail: "fstat: \(errnoText())") }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw CryptoError(.keyFileUnreadable, path: path, detail: "not a regular file")
        }
        guard info.st_mode & 0o077 == 0 else {
            let mode = String(info.st_mode & 0o777, radix: 8)
            throw CryptoError(.keyFilePermissions, path: path, detail: "mode \(mode) lets group or others access it; chmod 600")
        }
        var content = [UInt8](repeating: 0, count: maxFileSize + 1)
        defer { wipe(&content) }
        var total = 0
        while total < content.count {
            let got = content.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress! + total, $0.count - total) }
            if got < 0 {
                if errno == EINTR { continue }
                throw CryptoError(.keyFileUnreadable, path: path, detail: "read: \(errnoText())")
            }
            if got == 0 { break }
            total += got
        }
        guard total <= maxFileSize else {
            throw CryptoError(.keyFileLength, path: path, detail: "file too large for a 32-byte key")
        }
        return try decode(content[0..<total], path: path)
    }

    /// Raw when exactly 32 bytes; otherwise base64 of 32 bytes after trimming whitespace.
    static func decode(_ content: ArraySlice<UInt8>, path: String) throws -> SymmetricKey {
        if content.count == keyByteCount { return SymmetricKey(data: Array(content)) }
        let trimmed = content.drop(while: isSpace).reversed().drop(while: isSpace).reversed()
        guard !trimmed.isEmpty, trimmed.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            // Binary content (or nothing): a raw key of the wrong size.
            throw CryptoError(.keyFileLength, path: path, detail: "a raw key is 32 bytes, this file has \(content.count)")
        }
        guard var decoded = Base64.decode(trimmed, alphabet: .standard) else {
            throw CryptoError(.keyFileEncoding, path: path, detail: "text that is not valid base64 (\(trimmed.count) characters)")
        }
        defer { wipe(&decoded) }
        guard decoded.count == keyByteCount else {
            throw CryptoError(.keyFileLength, path: path, detail: "base64 decodes to \(decoded.count) bytes, need 32")
        }
        return SymmetricKey(data: decoded)
    }

    /// Writes a new random key as base64 to `path` with mode 0600; never overwrites.
    static func create(path: String) throws {
        var key = try SecureRandom.bytes(count: keyByteCount)
        var text = Base64.encode(key, alphabet: .standard, padded: true) + [UInt8(ascii: "\n")]
        defer {
            wipe(&key)
            wipe(&text)
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code: CryptoError.Code = errno == EEXIST ? .keyFileExists : .keyFileUnreadable
            throw CryptoError(code, path: path, detail: "create: \(errnoText())")
        }
        defer { close(fd) }
        guard fchmod(fd, 0o600) == 0 else { throw CryptoError(.keyFileUnreadable, path: path, detail: "fchmod: \(errnoText())") }
        var written = 0
        while written < text.count {
            let result = text.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                throw CryptoError(.keyFileUnreadable, path: path, detail: "write: \(errnoText())")
            }
            written += result
        }
        guard fsync(fd) == 0 else { throw CryptoError(.keyFileUnreadable, path: path, detail: "fsync: \(errnoText())") }
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

#if canImport(Glibc)
    private let systemRead = Glibc.read
#elseif canImport(Darwin)
    private let systemRead = Darwin.read
#endif

/// An error from the Crypto module; never carries key bytes, plaintext, nonces or tokens.
public struct CryptoError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong; new codes may be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Hashable, Sendable {
            case invalidKeySize, invalidNonceSize, malformedInput, authenticationFailure
            case randomFailure, openSSLFailure
            case unknownKeyID, truncatedValue, unsupportedVersion, invalidKeyID, noKeys
            case keyDirectoryUnreadable, keyFilePermissions, keyFileLength, keyFileEncoding, keyFileUnreadable, keyFileExists
            case invalidPEM, unsupportedKeyType, invalidSignature
        }

        fileprivate let base: Base
        private init(_ base: Base) { self.base = base }

        /// A key has the wrong number of bytes for the algorithm.
        public static let invalidKeySize = Code(.invalidKeySize)
        /// A nonce is not 12 bytes.
        public static let invalidNonceSize = Code(.invalidNonceSize)
        /// Input is too short or otherwise not shaped like a sealed box.
        public static let malformedInput = Code(.malformedInput)
        /// The tag did not verify: wrong key, wrong associated data or tampered bytes.
        public static let authenticationFailure = Code(.authenticationFailure)
        /// The CSPRNG failed to produce bytes.
        public static let randomFailure = Code(.randomFailure)
        /// An OpenSSL call failed unexpectedly.
        public static let openSSLFailure = Code(.openSSLFailure)
        /// A stored value names a key the keyring does not hold.
        public static let unknownKeyID = Code(.unknownKeyID)
        /// A stored value ends before its header, nonce or tag.
        public static let truncatedValue = Code(.truncatedValue)
        /// A stored value has a format version this build does not read.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// A key id is empty, too long or has characters outside `[A-Za-z0-9._-]`.
        public static let invalidKeyID = Code(.invalidKeyID)
        /// No key was found (empty directory, or the active id is not loaded).
        public static let noKeys = Code(.noKeys)
        /// The key directory cannot be listed.
        public static let keyDirectoryUnreadable = Code(.keyDirectoryUnreadable)
        /// A key file is readable or writable by group or others.
        public static let keyFilePermissions = Code(.keyFilePermissions)
        /// A key file does not hold 32 bytes (raw or base64).
        public static let keyFileLength = Code(.keyFileLength)
        /// A key file is neither 32 raw bytes nor base64 text.
        public static let keyFileEncoding = Code(.keyFileEncoding)
        /// A key file cannot be opened or read, or is not a regular file.
        public static let keyFileUnreadable = Code(.keyFileUnreadable)
        /// A new key file would overwrite an existing file.
        public static let keyFileExists = Code(.keyFileExists)
        /// PEM text could not be parsed as a key.
        public static let invalidPEM = Code(.invalidPEM)
        /// The key is of a type or size this operation does not accept.
        public static let unsupportedKeyType = Code(.unsupportedKeyType)
        /// A signature did not verify.
        public static let invalidSignature = Code(.invalidSignature)

        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// The key file or directory involved, when there is one (a path, never its content).
    public let path: String?
    /// Non-secret detail for operators: which check failed, an OpenSSL reason string.
    public let detail: String?
    /// Where the error was raised.
    public let fileID: String
    /// Where the error was raised.
    public let line: Int

    /// Creates an error; `detail` must never include key bytes, plaintext, nonces or tokens.
    public init(_ code: Code, path: String? = nil, detail: String? = nil, fileID: String = #fileID, line: Int = #line) {
        self.code = code
        self.path = path
        self.detail = detail
        self.fileID = fileID
        self.line = line
    }

    public var description: String {
        if let path { return "CryptoError(code: \(code), file: \(path))" }
        return "CryptoError(code: \(code))"
    }

    public var debugDescription: String {
        var text = "CryptoError(code: \(code)"
        if let path { text += ", file: \(path)" }
        if let detail { text += ", detail: \(detail)" }
        return text + ", at: \(fileID):\(line))"
    }
}

extension CryptoError {
    /// Builds an `openSSLFailure` with OpenSSL's queued reason, then clears the thread's error queue.
    static func openSSL(_ call: String, fileID: String = #fileID, line: Int = #line) -> CryptoError {
        CryptoError(.openSSLFailure, detail: "\(call): \(OpenSSLErrorQueue.drain())", fileID: fileID, line: line)
    }
}

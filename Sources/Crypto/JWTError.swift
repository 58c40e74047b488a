/// Why a JWT was refused; never carries the token or its signature.
public struct JWTError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What was wrong with the token; new codes may be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Hashable, Sendable {
            case malformed, algorithmNotAllowed, invalidSignature, expired, notYetValid
            case issuerMismatch, audienceMismatch, missingSubject, missingExpiration
        }

        fileprivate let base: Base
        private init(_ base: Base) { self.base = base }

        /// Not three base64url segments of JSON, too long, or a claim of the wrong type.
        public static let malformed = Code(.malformed)
        /// The header's `alg` is not the configured key's algorithm (`none` never is).
        public static let algorithmNotAllowed = Code(.algorithmNotAllowed)
        /// The signature does not verify with the configured key.
        public static let invalidSignature = Code(.invalidSignature)
        /// `exp` is past, beyond the leeway.
        public static let expired = Code(.expired)
        /// `nbf` is in the future, beyond the leeway.
        public static let notYetValid = Code(.notYetValid)
        /// `iss` differs from the configured issuer.
        public static let issuerMismatch = Code(.issuerMismatch)
        /// `aud` does not include the configured audience.
        public static let audienceMismatch = Code(.audienceMismatch)
        /// `sub` is missing or empty.
        public static let missingSubject = Code(.missingSubject)
        /// `exp` is missing and the verifier requires it.
        public static let missingExpiration = Code(.missingExpiration)

        public var description: String { base.rawValue }
    }

    /// What was wrong.
    public let code: Code
    /// Non-secret detail (which check, which claim), never token content beyond claim names and times.
    public let detail: String?
    /// Where the error was raised.
    public let fileID: String
    /// Where the error was raised.
    public let line: Int

    /// Creates an error; `detail` must not include the token or signature.
    public init(_ code: Code, detail: String? = nil, fileID: String = #fileID, line: Int = #line) {
        self.code = code
        self.detail = detail
        self.fileID = fileID
        self.line = line
    }

    public var description: String { "JWTError(code: \(code))" }

    public var debugDescription: String {
        "JWTError(code: \(code)\(detail.map { ", detail: \($0)" } ?? ""), at: \(fileID):\(line))"
    }
}

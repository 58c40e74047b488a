import Foundation

/// An error from PGClient: what went wrong (`code`), and for server errors the SQLSTATE.
///
/// `description` never contains parameter values, passwords or the server's detail text;
/// `debugDescription` adds the server's primary message with quoted values redacted.
public struct PGError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What kind of failure this is; new cases may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Sendable {
            case invalidConfiguration
            case connectionFailed
            case connectionClosed
            case server
            case poolExhausted
            case poolClosed
            case statementTimeout
            case cancelled
            case decoding
            case encoding
            case protocolViolation
            case migration
        }
        fileprivate let base: Base
        private init(_ base: Base) { self.base = base }

        /// A connection string or option is malformed.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The server could not be reached or refused the connection.
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection broke while in use; the statement may or may not have run. Retry on a new connection.
        public static let connectionClosed = Code(.connectionClosed)
        /// The server answered with an error; see `sqlState`.
        public static let server = Code(.server)
        /// No connection became free within the pool's acquire timeout.
        public static let poolExhausted = Code(.poolExhausted)
        /// The pool is shutting down.
        public static let poolClosed = Code(.poolClosed)
        /// The statement ran longer than its timeout and was cancelled.
        public static let statementTimeout = Code(.statementTimeout)
        /// The calling task was cancelled; the statement was cancelled on the server.
        public static let cancelled = Code(.cancelled)
        /// A column could not be decoded into the requested Swift type.
        public static let decoding = Code(.decoding)
        /// A value could not be encoded as a parameter.
        public static let encoding = Code(.encoding)
        /// The server sent something this client did not expect.
        public static let protocolViolation = Code(.protocolViolation)
        /// A schema migration could not be applied.
        public static let migration = Code(.migration)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// The server's SQLSTATE (five characters) for `.server`, `.statementTimeout` and `.cancelled`.
    public var sqlState: String?
    /// The server's primary message with quoted values redacted, or a client-side explanation.
    public var message: String
    /// The column a decoding error is about.
    public var column: String?
    /// The constraint a server error names, when there is one (useful for unique violations).
    public var constraint: String?
    public var file: String
    public var line: Int
    /// Nothing of the statement took effect (it was never sent, or a cancel meant for another statement rolled it
    /// back), so the pool may send it again on another connection.
    var didNotRun = false

    public init(
        _ code: Code, message: String, sqlState: String? = nil, column: String? = nil, constraint: String? = nil,
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.column = column
        self.constraint = constraint
        self.file = file
        self.line = line
    }

    /// True when running the same work again on a fresh connection may succeed.
    public var isRetryable: Bool {
        switch code.base {
        case .connectionClosed, .connectionFailed, .poolExhausted: return true
        case .server:
            // serialization_failure, deadlock_detected, admin_shutdown, crash_shutdown, cannot_connect_now
            return ["40001", "40P01", "57P01", "57P02", "57P03"].contains(sqlState ?? "")
        default: return false
        }
    }

    public var description: String {
        var text = "PGError(code: \(code)"
        if let sqlState { text += ", sqlState: \(sqlState)" }
        if let column { text += ", column: \(column)" }
        return text + ")"
    }

    public var debugDescription: String {
        var text = "PGError(code: \(code)"
        if let sqlState { text += ", sqlState: \(sqlState)" }
        if let column { text += ", column: \(column)" }
        if let constraint { text += ", constraint: \(constraint)" }
        return text + ", message: \(message), at: \(file):\(line))"
    }
}

extension PGError {
    /// Redacts the parts of a server message where PostgreSQL quotes a value: a quoted string right after `": "`
    /// (as in `invalid input syntax for type uuid: "…"`). Quoted identifiers (`relation "x"`) stay readable.
    static func redactingValues(_ message: String) -> String {
        var out = ""
        out.reserveCapacity(message.utf8.count)
        var rest = Substring(message)
        while let range = rest.range(of: ": \"") {
            out += rest[..<range.upperBound]
            rest = rest[range.upperBound...]
            if let close = rest.firstIndex(of: "\"") {
                out += "…\""
                rest = rest[rest.index(after: close)...]
            } else {
                out += "…"
                rest = ""
            }
        }
        out += rest
        return out
    }
}

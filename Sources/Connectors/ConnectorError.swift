/// A failure of the connector domain; the HTTP layer maps codes to statuses in one place.
public struct ConnectorError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// No connector for this user and provider.
        public static let notConnected = Code("not_connected")
        /// The connector exists but is disabled.
        public static let disabled = Code("disabled")
        /// Refresh failed for good; the user must connect again.
        public static let needsReauth = Code("needs_reauth")
        /// A stored secret does not decrypt: tampered, moved, or under a key not loaded.
        public static let corruptCredential = Code("corrupt_credential")
        /// The token is about to expire and could not be renewed now.
        public static let refreshUnavailable = Code("refresh_unavailable")
        /// The database could not be reached.
        public static let unavailable = Code("unavailable")
        public var description: String { name }
    }

    public var code: Code
    /// Safe to show: never a secret.
    public var message: String

    public init(_ code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "ConnectorError(\(code)): \(message)" }
}

public import Foundation

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
        /// No connector with this id or provider for this user (another user's is "not found" too).
        public static let notFound = Code("not_found")
        /// The catalog has no provider with this slug.
        public static let unknownProvider = Code("unknown_provider")
        /// The request does not fit the provider: wrong type, settings missing or malformed.
        public static let invalidSettings = Code("invalid_settings")
        /// The provider rejected the credential (401/403 on its cheap read).
        public static let invalidCredentials = Code("invalid_credentials")
        /// The provider could not tell: a timeout, a 5xx, a 429.
        public static let providerUnavailable = Code("provider_unavailable")
        /// The provider answered an OAuth error (a code exchange refused, a grant revoked).
        public static let providerError = Code("provider_error")
        /// The operator has not configured this provider's client id and secret.
        public static let providerNotConfigured = Code("provider_not_configured")
        /// An OAuth state that is unknown, used, expired or for another provider.
        public static let invalidState = Code("invalid_state")
        /// The user declined at the provider.
        public static let accessDenied = Code("access_denied")
        /// The caller may not act on something the change would touch (another provider's connector).
        public static let forbidden = Code("forbidden")
        /// The provider was called for this connector too recently; `retryAfter` says when it may be again.
        public static let refreshBudgetSpent = Code("refresh_budget_spent")
        public var description: String { name }
    }

    public var code: Code
    /// Safe to show: never a secret.
    public var message: String
    /// When asking again may succeed (a spent refresh budget).
    public var retryAfter: Date?

    public init(_ code: Code, message: String, retryAfter: Date? = nil) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { "ConnectorError(\(code)): \(message)" }
}

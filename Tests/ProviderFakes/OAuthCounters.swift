/// What a fake authorization server has answered so far; a snapshot.
public struct OAuthCounters: Sendable, Hashable {
    /// Authorization requests answered with a code.
    public var authorizations = 0
    /// Authorization requests answered with an error redirect (`access_denied`, `invalid_request`, …).
    public var refusedAuthorizations = 0
    /// Successful `authorization_code` grants.
    public var authorizationCodeExchanges = 0
    /// `authorization_code` grants answered with an error after the client authenticated.
    public var failedAuthorizationCodeExchanges = 0
    /// Successful `refresh_token` grants.
    public var refreshGrants = 0
    /// `refresh_token` grants answered with an error after the client authenticated.
    public var failedRefreshGrants = 0
    /// Successful `fb_exchange_token` grants (Meta's long-lived token exchange).
    public var longLivedExchanges = 0
    /// `fb_exchange_token` grants answered with an error after the client authenticated.
    public var failedLongLivedExchanges = 0
    /// GitHub App installation tokens issued.
    public var installationTokens = 0
    /// Installation token requests refused: a JWT that does not verify, or an unknown installation.
    public var failedInstallationTokens = 0
    /// Token and revocation requests refused with `invalid_client` (or Meta's error for a bad client).
    public var invalidClientRequests = 0
    /// Revocation requests answered 200, known token or not.
    public var revocations = 0
    /// `/userinfo` requests, valid token or not.
    public var userinfoCalls = 0
    /// Requests answered with an injected fault instead of reaching an endpoint.
    public var faultsInjected = 0

    /// All zero.
    public init() {}
}

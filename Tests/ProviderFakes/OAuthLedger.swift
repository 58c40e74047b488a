import Foundation

/// Everything a fake authorization server remembers: codes, grants and the tokens issued under them.
///
/// A value type mutated only under `OAuthAuthority`'s lock; every decision the server makes about a code or a token is
/// made here, so the routes only translate HTTP.
struct OAuthLedger {
    /// What `/authorize` was asked for, once the request itself is valid.
    struct AuthorizationRequest {
        var clientID: String
        var redirectURI: String?
        var codeChallenge: String?
        var scopes: [String]
    }

    /// Tokens handed out by one grant or refresh.
    struct Issued: Sendable {
        var accessToken: String
        var refreshToken: String?
        var expiresIn: Int?
        var scopes: [String]
    }

    private struct PendingCode {
        let request: AuthorizationRequest
        let expires: ContinuousClock.Instant
        /// Set by the exchange; a second exchange of the code revokes this grant (RFC 6749 §4.1.2).
        var grantID: Int?
    }

    private struct Grant {
        let scopes: [String]
        /// The one refresh token that may be used now; rotated ones stay in `refreshTokens` to recognise reuse.
        var refreshToken: String?
        /// With `keepPreviousRefreshTokenUntilSuccessorUsed`, the token last used, valid too until `refreshToken` is used.
        var previousRefreshToken: String?
        /// Revoked as a whole: its refresh tokens and its access tokens are dead.
        var revoked = false
        /// Only refreshing is dead; access tokens live until they expire.
        var refreshRevoked = false
    }

    private struct AccessToken {
        let grantID: Int
        let expires: ContinuousClock.Instant?
        var revoked = false
    }

    let configuration: FakeOAuthProvider.Configuration
    var counters = OAuthCounters()
    var tokenRequests: [String: Int] = [:]
    var denyNextAuthorization = false
    /// Added to the clock, so tests can expire codes and tokens without waiting.
    var clockOffset: Duration = .zero
    /// The GitHub App installations that exist now.
    var installations: Set<String>

    private var codes: [String: PendingCode] = [:]
    private var grants: [Int: Grant] = [:]
    private var accessTokens: [String: AccessToken] = [:]
    private var refreshTokens: [String: Int] = [:]
    private var nextGrantID = 0
    /// The grant each installation's tokens belong to, so that uninstalling revokes them together.
    private var installationGrants: [String: Int] = [:]

    init(configuration: FakeOAuthProvider.Configuration) {
        self.configuration = configuration
        self.installations = configuration.githubInstallations
    }

    private var now: ContinuousClock.Instant { .now + clockOffset }

    /// The server's wall clock, moved by `clockOffset` like its other clock; for times it states or checks as dates.
    var wallClock: Date {
        let (seconds, attoseconds) = clockOffset.components
        return Date().addingTimeInterval(Double(seconds) + Double(attoseconds) / 1e18)
    }

    /// Shopify's grace: the token last used stays valid until its successor is used.
    private var keepsPreviousRefreshToken: Bool {
        configuration.keepPreviousRefreshTokenUntilSuccessorUsed && configuration.rotateRefreshTokens && !configuration.omitRefreshTokenOnRefresh
    }

    // MARK: Authorization

    /// A code for `request`, or the error to redirect with: `refusal` when the request was invalid, `access_denied`
    /// when a test asked for a denial.
    mutating func authorize(_ request: AuthorizationRequest, refusal: OAuthError?) -> Result<String, OAuthError> {
        var refusal = refusal
        if refusal == nil && denyNextAuthorization {
            denyNextAuthorization = false
            refusal = OAuthError(.accessDenied, "the user denied the request")
        }
        if let refusal {
            counters.refusedAuthorizations += 1
            return .failure(refusal)
        }
        let code = RandomToken.make(prefix: "fake_code_")
        codes[code] = PendingCode(request: request, expires: now + configuration.authorizationCodeLifetime)
        counters.authorizations += 1
        return .success(code)
    }

    /// The `authorization_code` grant.
    mutating func exchange(code: String, clientID: String, redirectURI: String?, codeVerifier: String?) -> Result<Issued, OAuthError> {
        do {
            let issued = try checkedExchange(code: code, clientID: clientID, redirectURI: redirectURI, codeVerifier: codeVerifier)
            counters.authorizationCodeExchanges += 1
            return .success(issued)
        } catch {
            counters.failedAuthorizationCodeExchanges += 1
            return .failure(error)
        }
    }

    private mutating func checkedExchange(
        code: String, clientID: String, redirectURI: String?, codeVerifier: String?
    ) throws(OAuthError) -> Issued {
        guard let pending = codes[code] else { throw OAuthError(.invalidGrant, "unknown authorization code") }
        if let grantID = pending.grantID {
            grants[grantID]?.revoked = true
            throw OAuthError(.invalidGrant, "the authorization code was already used; tokens issued from it are revoked")
        }
        guard now < pending.expires else { throw OAuthError(.invalidGrant, "the authorization code expired") }
        guard pending.request.clientID == clientID else { throw OAuthError(.invalidGrant, "the authorization code was issued to another client") }
        if let expected = pending.request.redirectURI, expected != redirectURI {
            throw OAuthError(.invalidGrant, "redirect_uri does not match the authorization request")
        }
        switch (pending.request.codeChallenge, codeVerifier) {
        case (nil, nil):
            break
        case (nil, .some):
            throw OAuthError(.invalidGrant, "code_verifier sent but the authorization request had no code_challenge")
        case (.some, nil):
            throw OAuthError(.invalidGrant, "code_verifier is required")
        case (let challenge?, let verifier?):
            guard PKCE.verifies(verifier, challenge: challenge) else {
                throw OAuthError(.invalidGrant, "code_verifier does not match the code_challenge")
            }
        }
        let (grantID, issued) = startGrant(scopes: pending.request.scopes)
        codes[code]?.grantID = grantID
        return issued
    }

    // MARK: Grants and tokens

    /// A new grant with an access token and, when configured, a refresh token.
    mutating func startGrant(scopes: [String]) -> (grantID: Int, issued: Issued) {
        let refreshToken = configuration.issueRefreshToken ? RandomToken.make(prefix: "fake_rt_") : nil
        let grantID = addGrant(Grant(scopes: scopes, refreshToken: refreshToken))
        if let refreshToken { refreshTokens[refreshToken] = grantID }
        let issued = Issued(accessToken: mintAccessToken(grantID: grantID), refreshToken: refreshToken, expiresIn: expiresIn, scopes: scopes)
        return (grantID, issued)
    }

    /// The `refresh_token` grant; `scopes` nil keeps the grant's scopes.
    mutating func refresh(_ refreshToken: String, scopes: [String]?) -> Result<Issued, OAuthError> {
        do {
            let issued = try checkedRefresh(refreshToken, scopes: scopes)
            counters.refreshGrants += 1
            return .success(issued)
        } catch {
            counters.failedRefreshGrants += 1
            return .failure(error)
        }
    }

    private mutating func checkedRefresh(_ refreshToken: String, scopes requested: [String]?) throws(OAuthError) -> Issued {
        guard let grantID = refreshTokens[refreshToken], let grant = grants[grantID] else {
            throw OAuthError(.invalidGrant, "unknown refresh token")
        }
        guard !grant.revoked && !grant.refreshRevoked else { throw OAuthError(.invalidGrant, "the refresh token was revoked") }
        guard grant.refreshToken == refreshToken || (keepsPreviousRefreshToken && grant.previousRefreshToken == refreshToken) else {
            if configuration.revokeGrantOnRefreshTokenReuse { grants[grantID]?.revoked = true }
            throw OAuthError(.invalidGrant, "the refresh token was already used")
        }
        if let requested, !Set(requested).isSubset(of: grant.scopes) {
            throw OAuthError(.invalidScope, "the requested scope exceeds the original grant")
        }
        var next: String? = refreshToken
        if configuration.omitRefreshTokenOnRefresh {
            next = nil
        } else if configuration.rotateRefreshTokens {
            let rotated = RandomToken.make(prefix: "fake_rt_")
            grants[grantID]?.refreshToken = rotated
            // Using the successor ends its predecessor's grace and starts its own; using the predecessor again
            // keeps its grace and replaces the successor, which is then as dead as any reused token.
            if keepsPreviousRefreshToken { grants[grantID]?.previousRefreshToken = refreshToken }
            refreshTokens[rotated] = grantID
            next = rotated
        }
        return Issued(accessToken: mintAccessToken(grantID: grantID), refreshToken: next, expiresIn: expiresIn, scopes: requested ?? grant.scopes)
    }

    private mutating func addGrant(_ grant: Grant) -> Int {
        nextGrantID += 1
        grants[nextGrantID] = grant
        return nextGrantID
    }

    /// An access token of `lifetime`, or of the configured lifetime when nil; `token` gives its text.
    private mutating func mintAccessToken(grantID: Int, lifetime: Duration? = nil, token: String = RandomToken.make(prefix: "fake_at_")) -> String {
        accessTokens[token] = AccessToken(grantID: grantID, expires: (lifetime ?? configuration.accessTokenLifetime).map { now + $0 })
        return token
    }

    // MARK: Meta and GitHub

    /// Meta's `fb_exchange_token` grant: a long-lived token under the grant of `accessToken`, which stays valid.
    /// Meta's subcode says why a token is refused: 463 expired, 467 unknown or revoked.
    mutating func exchangeLongLived(accessToken: String) -> Result<Issued, MetaError> {
        guard let record = accessTokens[accessToken], !isRevoked(accessToken), let grant = grants[record.grantID] else {
            counters.failedLongLivedExchanges += 1
            return .failure(MetaError(code: 190, subcode: 467, message: "Error validating access token: The access token is invalid."))
        }
        guard isValid(accessToken: accessToken) else {
            counters.failedLongLivedExchanges += 1
            return .failure(MetaError(code: 190, subcode: 463, message: "Error validating access token: Session has expired."))
        }
        let lifetime = configuration.longLivedTokenLifetime
        let token = mintAccessToken(grantID: record.grantID, lifetime: lifetime)
        counters.longLivedExchanges += 1
        return .success(Issued(accessToken: token, refreshToken: nil, expiresIn: Int(lifetime.components.seconds), scopes: grant.scopes))
    }

    /// GitHub's installation tokens last an hour.
    static let installationTokenLifetime = Duration.seconds(3600)

    /// An installation token (`ghs_` and 36 hex digits) and when it expires by the server's clock; nil for an
    /// installation that does not exist. Counts either way.
    mutating func issueInstallationToken(installationID: String) -> (token: String, expiresAt: Date)? {
        guard installations.contains(installationID) else {
            counters.failedInstallationTokens += 1
            return nil
        }
        let grantID = installationGrants[installationID] ?? addGrant(Grant(scopes: [], refreshToken: nil))
        installationGrants[installationID] = grantID
        let token = mintAccessToken(grantID: grantID, lifetime: Self.installationTokenLifetime, token: "ghs_" + RandomToken.hex(byteCount: 18))
        counters.installationTokens += 1
        let (seconds, _) = Self.installationTokenLifetime.components
        return (token, wallClock.addingTimeInterval(Double(seconds)))
    }

    /// Removes an installation, as when the user uninstalls the app: its tokens die and new ones are refused.
    mutating func uninstall(installationID: String) {
        installations.remove(installationID)
        if let grantID = installationGrants.removeValue(forKey: installationID) { grants[grantID]?.revoked = true }
    }

    private var expiresIn: Int? { configuration.accessTokenLifetime.map { Int($0.components.seconds) } }

    /// RFC 7009: an access token dies alone; a refresh token takes its whole grant with it. Unknown tokens are ignored.
    mutating func revoke(_ token: String) {
        if accessTokens[token] != nil {
            accessTokens[token]?.revoked = true
        } else if let grantID = refreshTokens[token] {
            grants[grantID]?.revoked = true
        }
    }

    /// Makes refreshing `refreshToken`'s grant fail with `invalid_grant`; false for an unknown token.
    mutating func invalidate(refreshToken: String) -> Bool {
        guard let grantID = refreshTokens[refreshToken] else { return false }
        grants[grantID]?.refreshRevoked = true
        return true
    }

    /// Makes every grant's refresh fail with `invalid_grant`.
    mutating func revokeAllRefreshTokens() {
        for grantID in grants.keys { grants[grantID]?.refreshRevoked = true }
    }

    // MARK: Queries

    func isValid(accessToken token: String) -> Bool {
        guard let record = accessTokens[token], !record.revoked, grants[record.grantID]?.revoked == false else { return false }
        return record.expires.map { now < $0 } ?? true
    }

    func isValid(refreshToken token: String) -> Bool {
        guard let grantID = refreshTokens[token], let grant = grants[grantID] else { return false }
        return !grant.revoked && !grant.refreshRevoked && (grant.refreshToken == token || grant.previousRefreshToken == token)
    }

    func isRevoked(_ token: String) -> Bool {
        if let record = accessTokens[token] { return record.revoked || grants[record.grantID]?.revoked == true }
        if let grantID = refreshTokens[token], let grant = grants[grantID] { return grant.revoked || grant.refreshRevoked }
        return false
    }
}

extension FakeOAuthProvider {
    /// How the client authenticates at the token and revocation endpoints (RFC 6749 §2.3.1).
    public enum ClientAuthentication: Sendable, Hashable {
        /// `Authorization: Basic base64(client_id:client_secret)`, each part form-encoded first.
        case basic
        /// `client_id` and `client_secret` in the request body.
        case post
    }

    /// How the fake authorization server behaves; the defaults are a strict provider that rotates refresh tokens.
    public struct Configuration: Sendable {
        /// The only client the server knows.
        public var clientID: String
        /// The client's secret; random for each configuration unless set.
        public var clientSecret: String
        /// The one client authentication method accepted; the other is answered 401 `invalid_client`.
        public var clientAuth: ClientAuthentication
        /// Whether `/authorize` demands an S256 `code_challenge`.
        public var requirePKCE: Bool
        /// The lifetime of access tokens; nil issues tokens that never expire and leaves out `expires_in`.
        public var accessTokenLifetime: Duration?
        /// How long an authorization code can be exchanged.
        public var authorizationCodeLifetime: Duration
        /// Whether the code exchange issues a refresh token at all.
        public var issueRefreshToken: Bool
        /// Whether each refresh issues a new refresh token and makes the one used invalid; when false the same one is returned.
        public var rotateRefreshTokens: Bool
        /// Google's behaviour: refresh answers carry no `refresh_token` and the one used stays valid.
        public var omitRefreshTokenOnRefresh: Bool
        /// Whether presenting an already rotated refresh token revokes the whole grant, as reuse detection does.
        public var revokeGrantOnRefreshTokenReuse: Bool
        /// Shopify's grace for rotated refresh tokens; only with `rotateRefreshTokens`.
        ///
        /// Refreshing with the current token T issues a successor S, and T stays valid for as long as S has never
        /// been used. Refreshing with T again issues a fresh successor S′ that replaces S (S becomes invalid, as a
        /// reused token). The first refresh with the successor kills T; the successor then holds the same grace for
        /// its own successor. So at most two refresh tokens of a grant are valid at once: the last one used
        /// and the one it produced last. When false, a refresh token is invalid as soon as it has been used once.
        public var keepPreviousRefreshTokenUntilSuccessorUsed: Bool
        /// The user's `sub` at `/userinfo`.
        public var subject: String
        /// The user's email and name at `/userinfo`.
        public var accountName: String
        /// The scopes granted when an authorization request names none.
        public var scopes: [String]
        /// The lifetime of tokens from Meta's `fb_exchange_token` grant (60 days, as Meta's long-lived tokens).
        public var longLivedTokenLifetime: Duration
        /// The GitHub App whose JWTs `POST /app/installations/{id}/access_tokens` accepts (`iss`); nil refuses every JWT.
        public var githubAppID: String?
        /// The app's RSA public key (`BEGIN PUBLIC KEY`) that verifies its RS256 JWTs; nil refuses every JWT.
        public var githubAppPublicKeyPEM: String?
        /// The installations of the app that exist; any other id is answered 404.
        public var githubInstallations: Set<String>
        /// The installations the signed-in user's own token lists at `GET /user/installations`.
        public var userInstallations: Set<String>
        /// More members of every token answer (Salesforce's `instance_url`, say).
        public var tokenAnswerExtras: [String: String]

        /// A configuration; every argument has the default a strict, rotating provider would have.
        public init(
            clientID: String = "fake-client",
            clientSecret: String? = nil,
            clientAuth: ClientAuthentication = .basic,
            requirePKCE: Bool = true,
            accessTokenLifetime: Duration? = .seconds(3600),
            authorizationCodeLifetime: Duration = .seconds(60),
            issueRefreshToken: Bool = true,
            rotateRefreshTokens: Bool = true,
            omitRefreshTokenOnRefresh: Bool = false,
            revokeGrantOnRefreshTokenReuse: Bool = false,
            keepPreviousRefreshTokenUntilSuccessorUsed: Bool = false,
            subject: String = "fake-user-0001",
            accountName: String = "fake-account@example.test",
            scopes: [String] = ["openid", "email", "profile"],
            longLivedTokenLifetime: Duration = .seconds(5_184_000),
            githubAppID: String? = nil,
            githubAppPublicKeyPEM: String? = nil,
            githubInstallations: Set<String> = ["1"],
            userInstallations: Set<String> = ["1"],
            tokenAnswerExtras: [String: String] = [:]
        ) {
            self.clientID = clientID
            self.clientSecret = clientSecret ?? RandomToken.hex(byteCount: 20)
            TestSecrets.shared.given(self.clientSecret)
            self.clientAuth = clientAuth
            self.requirePKCE = requirePKCE
            self.accessTokenLifetime = accessTokenLifetime
            self.authorizationCodeLifetime = authorizationCodeLifetime
            self.issueRefreshToken = issueRefreshToken
            self.rotateRefreshTokens = rotateRefreshTokens
            self.omitRefreshTokenOnRefresh = omitRefreshTokenOnRefresh
            self.revokeGrantOnRefreshTokenReuse = revokeGrantOnRefreshTokenReuse
            self.keepPreviousRefreshTokenUntilSuccessorUsed = keepPreviousRefreshTokenUntilSuccessorUsed
            self.subject = subject
            self.accountName = accountName
            self.scopes = scopes
            self.longLivedTokenLifetime = longLivedTokenLifetime
            self.githubAppID = githubAppID
            self.githubAppPublicKeyPEM = githubAppPublicKeyPEM
            self.githubInstallations = githubInstallations
            self.userInstallations = userInstallations
            self.tokenAnswerExtras = tokenAnswerExtras
        }
    }
}

extension FakeOAuthProvider {
    /// This fake described as a catalog provider (the catalog file's format): `slug` refreshes with rotating
    /// refresh tokens under HTTP Basic client authentication and PKCE, and is tested with `/userinfo`. The tests,
    /// the process tests' config file and the refresh benchmark all add it to the built-in catalog.
    public func catalogEntry(
        slug: String = "fake_oauth", roles: [String] = ["source"], scopes: [String] = ["openid"], revocation: Bool = false,
        accountNamePath: String? = nil
    ) -> String {
        let quoted = { (values: [String]) in values.map { "\"\($0)\"" }.joined(separator: ", ") }
        let revoke = revocation ? #""revoke": {"url": "\#(revocationURL)", "method": "POST", "style": "rfc7009", "token": "refresh_token"},"# : ""
        let accountName = accountNamePath.map { #", "account_name_path": "\#($0)""# } ?? ""
        return """
            {"slug": "\(slug)", "name": "Fake OAuth", "type": "oauth", "roles": [\(quoted(roles))], "settings": [],
             "oauth": {"authorize_url": "\(authorizationURL)", "token_url": "\(tokenURL)",
                       "client_auth": "client_secret_basic", "pkce": "required", "scopes": [\(quoted(scopes))],
                       "grant_type": "refresh_token", "refresh_token_rotation": "single_use", "error_style": "oauth"},
             \(revoke)
             "test": {"url": "\(userinfoURL)", "method": "GET", "headers": {"Authorization": "Bearer {access_token}"}\(accountName)}}
            """
    }
}

import Synchronization

/// The state of one fake authorization server, shared by its routes and by the switches tests pull.
final class OAuthAuthority: Sendable {
    let configuration: FakeOAuthProvider.Configuration
    let faults = FaultInjection()
    let ledger: Mutex<OAuthLedger>
    /// The GitHub App whose JWTs buy installation tokens; nil when none is configured.
    let githubApp: GitHubAppJWT?

    /// Throws when the configured GitHub App key is not an RSA public key.
    init(configuration: FakeOAuthProvider.Configuration) throws {
        self.configuration = configuration
        self.ledger = Mutex(OAuthLedger(configuration: configuration))
        if let appID = configuration.githubAppID, let key = configuration.githubAppPublicKeyPEM {
            self.githubApp = try GitHubAppJWT(appID: appID, publicKeyPEM: key)
        } else {
            self.githubApp = nil
        }
    }
}

import Synchronization

/// The state of one fake authorization server, shared by its routes and by the switches tests pull.
final class OAuthAuthority: Sendable {
    let configuration: FakeOAuthProvider.Configuration
    let faults = FaultInjection()
    let ledger: Mutex<OAuthLedger>

    init(configuration: FakeOAuthProvider.Configuration) {
        self.configuration = configuration
        self.ledger = Mutex(OAuthLedger(configuration: configuration))
    }
}

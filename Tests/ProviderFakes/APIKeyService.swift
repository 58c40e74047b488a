import Synchronization

/// The state of one fake API-key service, shared by its routes and by the switches tests pull.
final class APIKeyService: Sendable {
    let accountID: String
    let accountName: String
    let faults = FaultInjection()
    let ledger: Mutex<APIKeyLedger>

    init(acceptedKeys: [String], accountName: String) {
        self.accountID = RandomToken.make(prefix: "acct_", byteCount: 12, secret: false)
        self.accountName = accountName
        self.ledger = Mutex(APIKeyLedger(accepted: Set(acceptedKeys)))
    }
}

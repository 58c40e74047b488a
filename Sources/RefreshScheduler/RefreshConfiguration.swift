public import Foundation

/// How the scheduler works: limits, leases, backoff. The defaults suit a production replica.
public struct RefreshConfiguration: Sendable {
    /// This replica's name in leases: host, process id and a random part, so a restarted process is a new owner.
    public var owner: String
    /// Provider calls in flight at once, over all providers.
    public var concurrency: Int = 16
    /// Provider calls in flight at once for one provider.
    public var perProviderConcurrency: Int = 8
    /// Connectors taken per claim.
    public var batchSize: Int = 100
    /// How long a lease holds: well beyond a provider call's timeout, so a live replica never loses one.
    public var lease: Duration = .seconds(60)
    /// The first retry after a transient failure, doubled per failure (full jitter), up to `maximumBackoff`.
    public var baseBackoff: Duration = .seconds(30)
    public var maximumBackoff: Duration = .seconds(3600)
    /// How long an on-demand refresh waits for another replica that holds the lease.
    public var onDemandWait: Duration = .seconds(10)
    /// The longest the loop sleeps without looking at the table (a missed notification costs at most this).
    public var idleCheck: Duration = .seconds(30)
    public var timing: RefreshTiming = RefreshTiming()
    /// The shortest refresh budget: a connector is refreshed at the provider at most once per max(this, a quarter
    /// of its token's lifetime), whatever asks.
    public var budgetFloor: Duration = .seconds(10)
    /// How long a provider that refused the operator's client configuration waits before one refresh tries again.
    public var misconfigurationPause: Duration = .seconds(300)
    /// How often the housekeeping runs: grants held for a confirmation that never came are revoked, and decided
    /// grants older than ``grantRetention`` deleted.
    public var housekeepingInterval: Duration = .seconds(60)
    /// How long a decided grant stays, so that a connector's failed grant still shows why (seconds).
    public var grantRetention: TimeInterval = 86_400
    public var webhook: WebhookConfiguration?

    public init(owner: String = RefreshConfiguration.defaultOwner()) {
        self.owner = owner
    }

    public static func defaultOwner() -> String {
        let host = ProcessInfo.processInfo.hostName.prefix(64)
        let random = String(UInt32.random(in: .min ... .max), radix: 36)
        return "\(host):\(ProcessInfo.processInfo.processIdentifier):\(random)"
    }
}

/// Where `needs_reauth` events are POSTed, and the secret that signs them.
public struct WebhookConfiguration: Sendable {
    public var url: String
    public var secret: [UInt8]
    public var attempts: Int = 5

    public init(url: String, secret: [UInt8]) {
        self.url = url
        self.secret = secret
    }
}

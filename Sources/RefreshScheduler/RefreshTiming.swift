public import Foundation

/// When an OAuth connector's token is due for renewal: `expires_at − lead`, jittered.
///
/// The lead is the configured one, or by default 10 % of the token's lifetime with a 5-minute floor; it is
/// never more than half the lifetime, so that a provider issuing short tokens (60 s) does not cause a refresh
/// loop. Jitter spreads connectors made together so they do not all come due together.
public struct RefreshTiming: Sendable, Equatable {
    /// A fixed lead; nil for the default proportional one.
    public var configuredLead: Duration?
    /// The default lead as a fraction of the lifetime.
    public var leadFraction: Double = 0.10
    /// The smallest default lead.
    public var minimumLead: Duration = .seconds(300)
    /// The largest share of the lead that jitter may add (it only ever moves the due time earlier).
    public var jitterFraction: Double = 0.10

    public init(configuredLead: Duration? = nil) {
        self.configuredLead = configuredLead
    }

    /// How long before expiry a token with `lifetime` is renewed, before jitter.
    public func lead(forLifetime lifetime: Duration) -> Duration {
        guard lifetime > .zero else { return .zero }
        // Beyond a century nothing changes but the arithmetic's range.
        let lifetime = min(lifetime, .seconds(100 * 365 * 86_400))
        let proportional = Duration.milliseconds(Int64((lifetime.timeInterval * leadFraction * 1000).rounded()))
        let wanted = configuredLead ?? max(proportional, minimumLead)
        return min(wanted, lifetime / 2)
    }

    /// When a token issued at `issuedAt` and expiring at `expiresAt` is due. `random` in 0..<1 picks the jitter
    /// (pass a generator's value; tests pass fixed ones).
    public func dueDate(issuedAt: Date, expiresAt: Date, random: Double) -> Date {
        let lifetime = Duration.seconds(max(0, expiresAt.timeIntervalSince(issuedAt)))
        let lead = lead(forLifetime: lifetime)
        // Jitter adds up to `jitterFraction` of the lead, still within half the lifetime.
        let jitter = min(lead * (jitterFraction * min(max(random, 0), 1)), lifetime / 2 - lead)
        let seconds = (lead + max(jitter, .zero)).timeInterval
        return expiresAt.addingTimeInterval(-seconds)
    }
}

extension Duration {
    /// The duration in seconds as a `TimeInterval`.
    var timeInterval: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

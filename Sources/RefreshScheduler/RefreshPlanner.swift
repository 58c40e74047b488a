public import Connectors
public import Foundation

/// When a connector is next refreshed: ahead of its expiry (``RefreshTiming``), or at the provider's keep-alive
/// interval when its refresh tokens die unused; never for tokens that do not expire.
public struct RefreshPlanner: Sendable {
    public var timing: RefreshTiming

    public init(timing: RefreshTiming = RefreshTiming()) {
        self.timing = timing
    }

    /// The next refresh of a connector of `provider` whose token expires at `expiresAt`, issued `now`.
    public func nextRefresh(provider: ProviderDefinition?, expiresAt: Date?, now: Date = Date(), random: Double = Double.random(in: 0..<1)) -> Date? {
        guard let provider, provider.canRefresh, let oauth = provider.oauth else { return nil }
        var due = expiresAt.map { timing.dueDate(issuedAt: now, expiresAt: $0, random: random) }
        if let keepAlive = oauth.keepAliveSeconds, keepAlive > 0 {
            let alive = now.addingTimeInterval(TimeInterval(keepAlive))
            due = min(due ?? alive, alive)
        }
        return due
    }
}

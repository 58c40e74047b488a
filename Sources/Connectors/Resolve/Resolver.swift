import Foundation
public import Timekeeping

/// Answers "give me a valid token for this user and provider": looks the connector up, checks its state, and
/// makes sure the token stays valid for the time the caller asks.
public struct Resolver: Sendable {
    /// Renews a connector's token now; provided by the refresh scheduler. Returns the renewed connector.
    public typealias RefreshHook = @Sendable (ConnectorRecord) async throws -> ResolvedConnector

    public let store: ConnectorStore
    public var refresh: RefreshHook?
    /// What "valid for `minValidSeconds`" is measured from.
    public var time: any TimeSource

    public init(store: ConnectorStore, refresh: RefreshHook? = nil, time: any TimeSource = SystemTime()) {
        self.store = store
        self.refresh = refresh
        self.time = time
    }

    /// The connector of `userID` for `provider`, with a token valid for at least `minValidSeconds`.
    public func resolve(userID: String, provider: String, minValidSeconds: Int) async throws -> ResolvedConnector {
        let found: ResolvedConnector?
        do {
            found = try await store.resolve(userID: userID, provider: provider)
        } catch let error as ConnectorError {
            throw error
        } catch {
            throw ConnectorError(.unavailable, message: "the database is unavailable")
        }
        guard let connector = found else {
            throw ConnectorError(.notConnected, message: "no \(provider) connector for this user")
        }
        switch connector.record.status {
        case .connected: break
        case .disabled: throw ConnectorError(.disabled, message: "the \(provider) connector is disabled")
        case .needsReauth: throw ConnectorError(.needsReauth, message: "the \(provider) connector must be connected again")
        case .pending, .failed: throw ConnectorError(.notConnected, message: "the \(provider) connector is not connected")
        }
        // A connected row without a credential (a grant's reservation restored by hand, a write cut short) never
        // answers an empty token.
        guard !connector.accessToken.isEmpty else {
            throw ConnectorError(.notConnected, message: "the \(provider) connector has no credential")
        }
        guard let expiresAt = connector.record.expiresAt else { return connector }
        let current = time.now
        if expiresAt.timeIntervalSince(current) >= Double(minValidSeconds) { return connector }
        if let refresh {
            do {
                // Renewed, or (within the refresh budget) the freshest stored token: served while it is valid at all.
                let renewed = try await refresh(connector.record)
                if let renewedExpiry = renewed.record.expiresAt, renewedExpiry <= time.now {
                    throw ConnectorError(.refreshUnavailable, message: "the \(provider) token has expired and could not be renewed")
                }
                return renewed
            } catch let error as ConnectorError where error.code == .refreshUnavailable || error.code == .unavailable {
                // Renewal failed for now: the stored token serves until it expires.
                if expiresAt > current { return connector }
                throw ConnectorError(.refreshUnavailable, message: "the \(provider) token has expired and could not be renewed")
            }
        }
        // No refresher in this build: a token that is still valid is better than none.
        if expiresAt > current { return connector }
        throw ConnectorError(.refreshUnavailable, message: "the \(provider) token has expired and could not be renewed")
    }
}

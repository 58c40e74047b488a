import Foundation
import Timekeeping
public import NIOCore

/// Resolve answers, cache-aside: a request the cache can answer (an answer still valid for the request's
/// `min_valid_seconds`) is answered from memory; any other is resolved through the ``Resolver`` (which reads the
/// connector and renews its token if need be) and its answer cached for the next request.
///
/// Both paths build the body from the same stored form (``ResolveAnswer``), so a cached answer and a fresh one
/// cannot differ. An answer is cached under the cache's epoch read before the database was, so an invalidation
/// that arrives during the read keeps the (possibly stale) answer out.
public struct CachedResolver: Sendable {
    public let resolver: Resolver
    public let cache: ResolveCache

    /// One answer: its JSON body and the connector it came from (for the audit).
    public struct Answer: Sendable {
        public var connectorID: String
        public var body: ByteBuffer
    }

    public init(resolver: Resolver, cache: ResolveCache) {
        self.resolver = resolver
        self.cache = cache
    }

    /// The cached answer for `userID` and `provider`, if there is one still valid for `minValidSeconds`.
    public func cached(userID: String, provider: String, minValidSeconds: Int) -> Answer? {
        cache.withValue(for: ResolveCache.Key(userID: userID, provider: provider), minValidSeconds: minValidSeconds, now: resolver.time.now) {
            stored in
            Answer(connectorID: ResolveAnswer.connectorID(stored), body: ResolveAnswer.body(stored, provider: provider, userID: userID))
        }
    }

    /// The answer read from the database (the token renewed first when it would not stay valid long enough), and
    /// cached. Throws ``ConnectorError`` when there is no connector to answer with.
    public func read(userID: String, provider: String, minValidSeconds: Int) async throws -> Answer {
        let key = ResolveCache.Key(userID: userID, provider: provider)
        let epoch = cache.epoch
        let resolved = try await resolver.resolve(userID: userID, provider: provider, minValidSeconds: minValidSeconds)
        // Never serve or cache another user's connector, whatever the layers below did.
        guard key.matches(userID: resolved.record.userID, provider: resolved.record.provider) else {
            throw ConnectorError(.notConnected, message: "no \(provider) connector for this user")
        }
        let stored = ResolveAnswer.encode(resolved, for: key)
        if cache.capacity > 0 {
            cache.insert(stored, for: key, expiresAt: resolved.record.expiresAt, epoch: epoch)
        }
        return Answer(
            connectorID: resolved.record.id,
            body: stored.withUnsafeBytes { ResolveAnswer.body($0, provider: provider, userID: userID) })
    }
}

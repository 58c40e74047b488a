import Foundation
public import Logging
public import PGClient
public import ServiceLifecycle

/// Listens for connector changes from every replica (NOTIFY) and drops the cache entries they touch.
public struct CacheInvalidator: Service {
    let listener: PGListener
    let cache: ResolveCache
    let logger: Logger

    public init(listener: PGListener, cache: ResolveCache, logger: Logger) {
        self.listener = listener
        self.cache = cache
        self.logger = logger
    }

    private struct Change: Decodable {
        var userID: String
        var provider: String
    }

    public func run() async throws {
        let events = listener.events(channels: [ConnectorStore.changeChannel])
        for await event in events.cancelOnGracefulShutdown() {
            switch event {
            case .listening: cache.setListening(true)
            case .disconnected: cache.setListening(false)
            case .notification(let note):
                guard let change = try? JSONCoding.decoder.decode(Change.self, from: Data(note.payload.utf8)) else {
                    logger.warning("unreadable change notification; clearing the cache")
                    cache.setListening(true)
                    continue
                }
                cache.invalidate(.init(userID: change.userID, provider: change.provider))
            }
        }
        cache.setListening(false)
    }
}

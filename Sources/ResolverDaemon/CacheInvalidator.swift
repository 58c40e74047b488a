import Connectors
import Foundation
import Logging
import NIOCore
import PGClient
import ServiceLifecycle

/// Listens for connector changes from every replica (NOTIFY) and drops the cache entries they touch.
struct CacheInvalidator: Service {
    let listener: PGListener
    let cache: ResolveCache
    let logger: Logger

    private struct Change: Decodable {
        var user_id: String
        var provider: String
    }

    func run() async throws {
        let events = listener.events(channels: [ConnectorStore.changeChannel])
        for await event in events.cancelOnGracefulShutdown() {
            switch event {
            case .listening: cache.setListening(true)
            case .disconnected: cache.setListening(false)
            case .notification(let note):
                guard let change = try? JSONDecoder().decode(Change.self, from: Data(note.payload.utf8)) else {
                    logger.warning("unreadable change notification; clearing the cache")
                    cache.setListening(true)
                    continue
                }
                cache.invalidate(.init(userID: change.user_id, provider: change.provider))
            }
        }
        cache.setListening(false)
    }
}

/// A resolve answer as the cache keeps it, in one run of bytes: the connector id the audit needs (after its
/// length in one byte), then the rendered body.
enum CachedAnswer {
    /// nil for an id too long to encode (none is: ids are a prefix and 26 characters).
    static func encode(body: [UInt8], connectorID: String) -> [UInt8]? {
        let id = connectorID.utf8
        guard id.count <= Int(UInt8.max) else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(1 + id.count + body.count)
        bytes.append(UInt8(id.count))
        bytes.append(contentsOf: id)
        bytes.append(contentsOf: body)
        return bytes
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) -> (connectorID: String, body: ByteBuffer) {
        let idLength = Int(bytes[0])
        let connectorID = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[1..<1 + idLength]), as: UTF8.self)
        return (connectorID, ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes[(1 + idLength)...])))
    }
}

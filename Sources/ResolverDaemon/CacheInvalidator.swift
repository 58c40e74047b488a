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

/// A resolve answer as the cache keeps it, in one run of bytes: where to find the connector id the audit needs,
/// then the rendered body. The body names the connector id, so the id is kept as its place in the body (a 1,
/// the offset in two bytes, the length in one) rather than a second time (a 0, the length in one byte, the id).
enum CachedAnswer {
    /// nil for an id too long to encode (none is: ids are a prefix and 26 characters).
    static func encode(body: [UInt8], connectorID: String) -> [UInt8]? {
        let id = Array(connectorID.utf8)
        guard !id.isEmpty, id.count <= Int(UInt8.max) else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(4 + body.count)
        if let offset = firstOffset(of: id, in: body), offset <= Int(UInt16.max) {
            bytes.append(contentsOf: [1, UInt8(offset >> 8), UInt8(offset & 0xFF), UInt8(id.count)])
        } else {
            bytes.reserveCapacity(2 + id.count + body.count)
            bytes.append(contentsOf: [0, UInt8(id.count)])
            bytes.append(contentsOf: id)
        }
        bytes.append(contentsOf: body)
        return bytes
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) -> (connectorID: String, body: ByteBuffer) {
        let body: UnsafeRawBufferPointer
        let id: UnsafeRawBufferPointer
        if bytes[0] == 1 {
            body = UnsafeRawBufferPointer(rebasing: bytes[4...])
            let offset = Int(bytes[1]) << 8 | Int(bytes[2])
            id = UnsafeRawBufferPointer(rebasing: body[offset..<offset + Int(bytes[3])])
        } else {
            let length = Int(bytes[1])
            id = UnsafeRawBufferPointer(rebasing: bytes[2..<2 + length])
            body = UnsafeRawBufferPointer(rebasing: bytes[(2 + length)...])
        }
        return (String(decoding: id, as: UTF8.self), ByteBuffer(bytes: body))
    }

    private static func firstOffset(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        return (0...(haystack.count - needle.count)).first { start in
            haystack[start] == needle[0] && haystack[start..<start + needle.count].elementsEqual(needle)
        }
    }
}

import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ResolverCrypto

/// POSTs connector events to the operator's webhook, signed: `X-Resolverd-Signature: sha256=<hex>` is
/// HMAC-SHA256 over `<timestamp>.<body>` with the configured secret, `X-Resolverd-Timestamp` is that timestamp,
/// and `X-Resolverd-Event-Id` is unique per event (receivers drop repeats). Failed deliveries are retried with
/// backoff; delivery never holds up a refresh.
struct WebhookSender: Sendable {
    let configuration: WebhookConfiguration
    let logger: Logger
    static let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))

    static func signature(secret: [UInt8], timestamp: String, body: [UInt8]) -> String {
        "sha256=" + Hex.encode(HMACSHA256.authenticationCode(for: Array(timestamp.utf8) + [UInt8(ascii: ".")] + body, key: secret))
    }

    /// Delivers in the background; returns at once.
    func send(eventID: String, body: [UInt8]) {
        Task { await deliver(eventID: eventID, body: body) }
    }

    func deliver(eventID: String, body: [UInt8]) async {
        var delay = Duration.milliseconds(500)
        for attempt in 1...max(1, configuration.attempts) {
            let timestamp = String(Int(Date().timeIntervalSince1970))
            var request = HTTPClientRequest(url: configuration.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "X-Resolverd-Event-Id", value: eventID)
            request.headers.add(name: "X-Resolverd-Timestamp", value: timestamp)
            request.headers.add(name: "X-Resolverd-Signature", value: Self.signature(secret: configuration.secret, timestamp: timestamp, body: body))
            request.body = .bytes(ByteBuffer(bytes: body))
            do {
                let response = try await Self.client.execute(request, timeout: .seconds(10))
                _ = try? await response.body.collect(upTo: 64 * 1024)
                if (200..<300).contains(Int(response.status.code)) { return }
                logger.warning(
                    "webhook refused the event", metadata: ["event_id": "\(eventID)", "status": "\(response.status.code)", "attempt": "\(attempt)"])
            } catch {
                logger.warning("webhook unreachable", metadata: ["event_id": "\(eventID)", "attempt": "\(attempt)"])
            }
            try? await Task.sleep(for: delay)
            delay *= 2
        }
        logger.error("webhook event not delivered after retries", metadata: ["event_id": "\(eventID)"])
    }
}

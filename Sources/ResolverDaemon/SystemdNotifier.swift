import Foundation
import Glibc
import Logging
import ServiceLifecycle
import Synchronization

/// Speaks systemd's notify protocol without libsystemd: datagrams to `$NOTIFY_SOCKET`. `READY=1` once the API
/// listens and the database answers, `WATCHDOG=1` at half of `$WATCHDOG_USEC`, `STOPPING=1` on shutdown.
/// Without `$NOTIFY_SOCKET` it sends nothing.
final class SystemdNotifier: Service, Sendable {
    private let socketPath: String?
    private let watchdogInterval: Duration?
    private let isReady: @Sendable () async -> Bool
    private let listening: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation)
    private let logger: Logger
    /// Datagrams sent so far.
    private let sent = Atomic<Int>(0)

    init(environment: [String: String], logger: Logger, isReady: @escaping @Sendable () async -> Bool) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        watchdogInterval = environment["WATCHDOG_USEC"].flatMap { UInt64($0) }.map { Duration.microseconds(Int64($0 / 2)) }
        self.isReady = isReady
        self.listening = AsyncStream.makeStream(of: Void.self)
        self.logger = logger
    }

    /// Whether `$NOTIFY_SOCKET` names a socket: without one nothing is ever sent.
    var isEnabled: Bool { socketPath != nil }

    /// How many messages went to systemd.
    var sentCount: Int { sent.load(ordering: .relaxed) }

    /// Called once the API socket is bound.
    func apiIsListening() { listening.continuation.yield() }

    func run() async throws {
        guard let socketPath else { return await waitForShutdown() }
        await cancelWhenGracefulShutdown {
            for await _ in self.listening.stream { break }
            while !Task.isCancelled, await !self.isReady() { try? await Task.sleep(for: .milliseconds(100)) }
            guard !Task.isCancelled else { return }
            self.send("READY=1\nSTATUS=serving", to: socketPath)
            guard let interval = self.watchdogInterval else { return await self.waitForCancellation() }
            while !Task.isCancelled {
                self.send("WATCHDOG=1", to: socketPath)
                try? await Task.sleep(for: interval)
            }
        }
        send("STOPPING=1", to: socketPath)
    }

    private func waitForShutdown() async {
        await cancelWhenGracefulShutdown { await self.waitForCancellation() }
    }

    private func waitForCancellation() async {
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
    }

    /// One datagram; an address starting with `@` is in the abstract namespace.
    func send(_ message: String, to path: String) {
        sent.add(1, ordering: .relaxed)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            logger.warning("NOTIFY_SOCKET path is too long; not notifying systemd")
            return
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let sent = message.withCString { text in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, text, strlen(text), 0, $0, length) }
            }
        }
        if sent < 0 { logger.warning("could not notify systemd", metadata: ["errno": "\(errno)"]) }
    }
}

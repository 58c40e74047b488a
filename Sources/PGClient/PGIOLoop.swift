import Glibc
import CEventPoll
import Foundation
import NIOConcurrencyHelpers

/// Something with a socket that the I/O loop watches.
protocol PGIOSource: AnyObject, Sendable {
    /// Called on the loop's thread when the socket is readable, writable, or closed.
    func ioReady(readable: Bool, writable: Bool)
}

/// One thread that waits on every connection's socket with epoll and hands readiness to the connection.
///
/// Sockets stay registered for reading (level-triggered) for their whole life, so the hot path needs no
/// `epoll_ctl` call: a query is sent from the caller's thread and its answer is read here. Write interest is
/// added only while libpq has unsent data.
final class PGIOLoop: @unchecked Sendable {  // Sendable: `sources` and `nextToken` are guarded by `lock`.
    static let shared = PGIOLoop(name: "resolverd-pg-io")

    private struct WeakSource {
        weak var source: (any PGIOSource)?
    }

    private let epollFD: Int32
    private let lock = NIOLock()
    private var sources: [UInt64: WeakSource] = [:]
    private var nextToken: UInt64 = 1

    private init(name: String) {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epollFD >= 0, "epoll_create1 failed (errno \(resolverd_errno()))")
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    private static let readFlags = EPOLLIN.rawValue | EPOLLRDHUP.rawValue

    /// Starts watching `fd` for `source`; returns the token to change or end the registration.
    func register(fd: Int32, source: some PGIOSource) throws -> UInt64 {
        let token = lock.withLock {
            defer { nextToken += 1 }
            sources[nextToken] = WeakSource(source: source)
            return nextToken
        }
        if resolverd_epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, Self.readFlags, token) != 0 {
            let error = resolverd_errno()
            _ = lock.withLock { sources.removeValue(forKey: token) }
            throw PGError(.connectionFailed, message: "could not watch the connection's socket (errno \(error))")
        }
        return token
    }

    /// Adds or removes interest in writability while libpq has unsent data.
    func setWriteInterest(fd: Int32, token: UInt64, _ enabled: Bool) {
        let flags = enabled ? Self.readFlags | EPOLLOUT.rawValue : Self.readFlags
        _ = resolverd_epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, flags, token)
    }

    /// Stops watching; events already collected for `token` are dropped.
    func deregister(fd: Int32, token: UInt64) {
        _ = resolverd_epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, 0, 0)
        _ = lock.withLock { sources.removeValue(forKey: token) }
    }

    private func run() {
        let capacity = 64
        let flags = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
        let tokens = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
        let readable = EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue | EPOLLRDHUP.rawValue
        while true {
            let count = resolverd_epoll_wait(epollFD, flags, tokens, Int32(capacity), -1)
            if count < 0 {
                if resolverd_errno() == EINTR { continue }
                fatalError("epoll_wait failed (errno \(resolverd_errno()))")
            }
            for i in 0..<Int(count) {
                guard let source = lock.withLock({ sources[tokens[i]]?.source }) else { continue }
                source.ioReady(readable: flags[i] & readable != 0, writable: flags[i] & EPOLLOUT.rawValue != 0)
            }
        }
    }
}

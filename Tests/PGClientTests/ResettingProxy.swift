import Foundation
import Glibc
import PGClient
import Synchronization

/// A TCP proxy on loopback in front of the test server's Unix socket. ``resetAll()`` drops every connection it
/// carries with a TCP reset (SO_LINGER 0), the way a failing network or a middlebox would.
///
/// One thread moves the bytes with `poll`; the reset runs on it too, so no socket is closed while in use.
final class ResettingProxy: Sendable {
    /// The loopback port clients connect to.
    let port: UInt16
    /// The server's configuration, pointed at the proxy.
    let configuration: PGConnectionConfiguration

    private let listener: Int32
    private let wake: (read: Int32, write: Int32)
    private let upstream: String
    private let requests = Mutex<(resets: [DispatchSemaphore], stop: Bool)>(([], false))
    private let stopped = DispatchSemaphore(value: 0)

    /// Starts a proxy to the server `server` names (a Unix socket directory in `host`, and `port`).
    init(to server: PGConnectionConfiguration) throws {
        guard let directory = server["host"], directory.hasPrefix("/") else {
            throw PGError(.invalidConfiguration, message: "the proxy needs the test server's Unix socket")
        }
        upstream = "\(directory)/.s.PGSQL.\(server["port"] ?? "5432")"
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bind(listener, address, length) == 0 && listen(listener, 16) == 0 && getsockname(listener, address, &length) == 0
            }
        }
        var pipeFDs: [Int32] = [0, 0]
        guard bound, pipe(&pipeFDs) == 0 else {
            Glibc.close(listener)
            throw PGError(.connectionFailed, message: "the proxy could not listen (errno \(errno))")
        }
        self.listener = listener
        wake = (pipeFDs[0], pipeFDs[1])
        port = UInt16(bigEndian: address.sin_port)
        var configuration = server
        configuration.set("host", "127.0.0.1")
        configuration.set("port", "\(port)")
        self.configuration = configuration
        let thread = Thread { [self] in run() }
        thread.start()
    }

    /// Resets every connection the proxy carries; returns once the resets went out.
    func resetAll() {
        let done = DispatchSemaphore(value: 0)
        requests.withLock { $0.resets.append(done) }
        poke()
        done.wait()
    }

    /// Stops the proxy and closes its sockets.
    func stop() {
        requests.withLock { $0.stop = true }
        poke()
        stopped.wait()
    }

    private func poke() {
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
    }

    private func run() {
        var pairs: [(client: Int32, server: Int32)] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            var fds = [pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0), pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
            for pair in pairs {
                fds.append(pollfd(fd: pair.client, events: Int16(POLLIN), revents: 0))
                fds.append(pollfd(fd: pair.server, events: Int16(POLLIN), revents: 0))
            }
            guard poll(&fds, nfds_t(fds.count), -1) >= 0 else { continue }
            if fds[0].revents != 0 {
                _ = read(wake.read, &buffer, buffer.count)
                let (resets, stop) = requests.withLock { state in
                    defer { state.resets = [] }
                    return (state.resets, state.stop)
                }
                if !resets.isEmpty || stop {
                    for pair in pairs {
                        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                        _ = setsockopt(pair.client, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                        Glibc.close(pair.client)
                        Glibc.close(pair.server)
                    }
                    pairs = []
                    resets.forEach { $0.signal() }
                }
                if stop {
                    [listener, wake.read, wake.write].forEach { _ = Glibc.close($0) }
                    stopped.signal()
                    return
                }
                continue
            }
            var closing: Set<Int> = []
            for (index, pair) in pairs.enumerated() {
                let client = fds[2 + 2 * index].revents
                let server = fds[3 + 2 * index].revents
                if client != 0 && !forward(from: pair.client, to: pair.server, &buffer) { closing.insert(index) }
                if server != 0 && !forward(from: pair.server, to: pair.client, &buffer) { closing.insert(index) }
            }
            for index in closing.sorted(by: >) {
                Glibc.close(pairs[index].client)
                Glibc.close(pairs[index].server)
                pairs.remove(at: index)
            }
            if fds[1].revents != 0, let pair = accept() { pairs.append(pair) }
        }
    }

    /// Accepts a client and connects it to the server.
    private func accept() -> (client: Int32, server: Int32)? {
        let client = Glibc.accept(listener, nil, nil)
        guard client >= 0 else { return nil }
        let server = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            for (index, byte) in upstream.utf8.prefix(path.count - 1).enumerated() { path[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
        }
        guard connected else {
            Glibc.close(client)
            Glibc.close(server)
            return nil
        }
        return (client, server)
    }

    /// Moves what `source` has to `destination`; false when either side is done.
    private func forward(from source: Int32, to destination: Int32, _ buffer: inout [UInt8]) -> Bool {
        let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
        guard count > 0 else { return false }
        return buffer.withUnsafeBytes { bytes in
            var written = 0
            while written < count {
                let sent = send(destination, bytes.baseAddress! + written, count - written, Int32(MSG_NOSIGNAL))
                guard sent > 0 else { return false }
                written += sent
            }
            return true
        }
    }
}

/// A fake provider running as a real HTTP server on loopback.
public protocol FakeProvider: Sendable {
    /// Where the server listens, `http://127.0.0.1:PORT`, without a trailing slash.
    var baseURL: String { get }
    /// The server's failure switches.
    var faults: FaultInjection { get }
    /// Stops the server and waits until it has closed its socket.
    func shutdown() async
}

extension FakeProvider {
    /// Applies `fault` to every request from now on; `.none` turns it off.
    public func setFault(_ fault: Fault) { faults.set(fault) }

    /// Applies `fault` to the next `count` requests only, then answers as before.
    public func failNext(_ count: Int, with fault: Fault) { faults.failNext(count, with: fault) }
}

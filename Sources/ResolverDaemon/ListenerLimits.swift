import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// What one client may hold of a listener: how long a connection may sit idle between requests, how long a request
/// may take to arrive, and how many connections the listener keeps open at once. Without them a client that opens
/// connections and never finishes a request holds them for good, until the process runs out of descriptors and
/// every other caller is locked out. Both listeners (API and admin) apply the same limits, each counting its own
/// connections.
struct ListenerLimits: Sendable, Equatable {
    /// A connection with no request in progress (nothing being read, no answer owed) is closed after this long
    /// (`RESOLVERD_IDLE_TIMEOUT_SECONDS`).
    var idleTimeout: Duration
    /// A request's head and body must arrive within this long of its first byte, else the connection is answered
    /// 408 (when no answer is under way) and closed (`RESOLVERD_REQUEST_READ_TIMEOUT_SECONDS`).
    var requestReadTimeout: Duration
    /// The most client connections one listener holds open; one more is accepted and closed at once
    /// (`RESOLVERD_MAX_CONNECTIONS`).
    var maxConnections: Int

    static let idleTimeoutSeconds = 1...3600
    static let requestReadTimeoutSeconds = 1...600
    static let maxConnectionCounts = 1...1_000_000
    static let defaultIdleTimeoutSeconds = 60
    static let defaultRequestReadTimeoutSeconds = 10
    static let defaultMaxConnections = 10_000

    init(
        idleTimeout: Duration = .seconds(defaultIdleTimeoutSeconds),
        requestReadTimeout: Duration = .seconds(defaultRequestReadTimeoutSeconds),
        maxConnections: Int = defaultMaxConnections
    ) {
        self.idleTimeout = idleTimeout
        self.requestReadTimeout = requestReadTimeout
        self.maxConnections = maxConnections
    }
}

/// Why a listener closed a connection on its own.
enum ConnectionClosing: String, CaseIterable, Sendable {
    /// No request in progress for the idle timeout.
    case idle
    /// A request did not arrive in full within the request read timeout.
    case readTimeout = "read_timeout"
    /// The listener already held its most connections.
    case overLimit = "over_limit"
}

/// One listener's connections: its limits, how many connections are open now (shared by every event loop), and
/// where the connections it closes are counted.
final class ListenerConnections: Sendable {
    let listener: String
    let limits: ListenerLimits
    private let metrics: ResolverMetrics?
    private let open = Atomic<Int>(0)

    init(listener: String, limits: ListenerLimits, metrics: ResolverMetrics?) {
        self.listener = listener
        self.limits = limits
        self.metrics = metrics
    }

    /// The connections open now, those past the limit (being closed) included.
    var count: Int { open.load(ordering: .relaxed) }

    /// Counts a new connection; false when that puts the listener past its limit (the caller closes it, and calls
    /// ``closed()`` all the same once it is closed).
    func opened() -> Bool {
        open.add(1, ordering: .relaxed).newValue <= limits.maxConnections
    }

    func closed() {
        open.subtract(1, ordering: .relaxed)
    }

    func record(_ closing: ConnectionClosing) {
        metrics?.recordConnectionClosed(listener: listener, reason: closing)
    }
}

/// A connection as `Inner` sets it up, with ``ConnectionDeadlines`` at the front of its pipeline and
/// ``RequestBoundaries`` right after NIO's HTTP/1 request decoder, ahead of anything that holds requests
/// (``ResolveFastPath``, Hummingbird's connection handling), so that a request held anywhere is bounded too.
struct ListenerLimitedChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value

    let inner: Inner
    let connections: ListenerConnections

    init(_ inner: Inner, connections: ListenerConnections) {
        self.inner = inner
        self.connections = connections
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            let deadlines = ConnectionDeadlines(connections: connections)
            let decoder = try operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try operations.addHandler(RequestBoundaries(deadlines), position: .after(decoder))
            try operations.addHandler(deadlines, position: .first)
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

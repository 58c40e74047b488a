public import FailureLogging
public import Logging
import Synchronization

/// What a listener reports.
public enum PGListenerEvent: Sendable, Hashable {
    /// LISTEN is in place, at first and again after every reconnect: anything sent while the listener was
    /// disconnected was missed, so consumers that cache should start afresh.
    case listening
    /// The connection dropped; notifications are being missed until the next `.listening`.
    case disconnected
    case notification(PGNotification)
}

/// Receives NOTIFY messages on a dedicated connection, reconnecting and listening again after the server
/// restarts or the connection drops.
public struct PGListener: Sendable {
    public var configuration: PGConnectionConfiguration
    public var logger: Logger
    /// The first wait before reconnecting; it doubles on each failure up to `maximumBackoff`.
    public var initialBackoff: Duration = .milliseconds(100)
    public var maximumBackoff: Duration = .seconds(5)
    /// How often the idle listening connection is asked a `SELECT 1`, and how long the answer may take: a connection
    /// dropped silently on the way (NAT, a load balancer) or a server that stopped answering is closed and made
    /// again within about the sum, instead of going unnoticed until TCP gives up (hours). TCP keepalives are set
    /// as well, unless the configuration sets them.
    public var probeInterval: Duration = .seconds(30)
    public var probeTimeout: Duration = .seconds(5)
    /// Events kept for a consumer that falls behind; past it the oldest are dropped, and the consumer is told to
    /// start afresh (`.disconnected`, then `.listening`).
    public var bufferLimit = 65_536

    /// Where failed reconnects are summarised: one line when the connection is lost, then a count per interval.
    public var failures: FailureLog

    public init(configuration: PGConnectionConfiguration, logger: Logger = Logger(label: "pg.listen"), failures: FailureLog? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.failures = failures ?? FailureLog(logger: logger)
    }

    static let reconnects = FailureLog.Kind(
        condition: "notification connection lost", counted: "reconnect attempts failed", level: .warning)

    /// Events for `channels` until the consumer stops iterating (or its task is cancelled).
    public func events(channels: [String]) -> AsyncStream<PGListenerEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: PGListenerEvent.self, bufferingPolicy: .bufferingNewest(bufferLimit))
        let listener = self
        let task = Task {
            await listener.listen(channels: channels, into: continuation)
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func listen(channels: [String], into continuation: AsyncStream<PGListenerEvent>.Continuation) async {
        var backoff = initialBackoff
        while !Task.isCancelled {
            do {
                let connection = try await PGConnection.connect(Self.withKeepalives(configuration))
                // Notifications can be read in the same batch as LISTEN's answer, before this task resumes: they
                // wait here until `.listening` is out, so consumers always see it first.
                let gate = Mutex<[PGNotification]?>([])
                connection.setNotificationHandler { note in
                    gate.withLock { held in
                        guard held == nil else { return held!.append(note) }
                        if case .dropped = continuation.yield(.notification(note)) {
                            // The consumer fell so far behind that the oldest notifications were dropped: tell it
                            // to start afresh, as after a reconnect. The newest events are kept, so these arrive.
                            continuation.yield(.disconnected)
                            continuation.yield(.listening)
                        }
                    }
                }
                let statement = channels.map { "LISTEN " + PGQuery.quoteIdentifier($0) }.joined(separator: "; ")
                try await connection.execute(unsafeSQL: statement)
                gate.withLock { held in
                    continuation.yield(.listening)
                    for note in held ?? [] { continuation.yield(.notification(note)) }
                    held = nil
                }
                backoff = initialBackoff
                failures.clear(Self.reconnects)
                await withTaskCancellationHandler {
                    await withTaskGroup(of: Void.self) { group in
                        group.addTask { await connection.waitUntilClosed() }
                        group.addTask { [probeInterval, probeTimeout] in await Self.probe(connection, every: probeInterval, within: probeTimeout) }
                        await group.next()
                        connection.close()
                        group.cancelAll()
                    }
                } onCancel: {
                    connection.close()
                }
                connection.close()
                continuation.yield(.disconnected)
                if !Task.isCancelled { failures.record(Self.reconnects, "notification connection lost; reconnecting") }
            } catch {
                if !Task.isCancelled {
                    failures.record(
                        Self.reconnects, "notification connection failed; retrying", metadata: ["error": "\(error)", "retry_in": "\(backoff)"])
                }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, maximumBackoff)
            }
        }
    }
}

extension PGListener {
    /// Asks `SELECT 1` every `interval`; returns, having closed the connection, when an answer does not come within
    /// `timeout` or the statement fails.
    static func probe(_ connection: PGConnection, every interval: Duration, within timeout: Duration) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            let deadline = Task {
                try await Task.sleep(for: timeout)
                connection.close()
            }
            let answered = (try? await connection.execute(unsafeSQL: "SELECT 1")) != nil
            deadline.cancel()
            if !answered {
                connection.close()
                return
            }
        }
    }

    /// `configuration` with TCP keepalives on, where it does not say otherwise.
    static func withKeepalives(_ configuration: PGConnectionConfiguration) -> PGConnectionConfiguration {
        guard configuration["keepalives"] == nil else { return configuration }
        var configuration = configuration
        configuration.set("keepalives", "1")
        configuration.set("keepalives_idle", "30")
        configuration.set("keepalives_interval", "10")
        configuration.set("keepalives_count", "3")
        return configuration
    }
}

extension PGConnectionPool {
    /// Sends a notification on `channel` (through `pg_notify`, so the payload is a bound parameter).
    public func notify(channel: String, payload: String) async throws {
        _ = try await query("SELECT pg_notify(\(channel), \(payload))")
    }
}

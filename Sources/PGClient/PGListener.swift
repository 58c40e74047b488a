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
        let (stream, continuation) = AsyncStream.makeStream(of: PGListenerEvent.self, bufferingPolicy: .bufferingNewest(65_536))
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
                let connection = try await PGConnection.connect(configuration)
                // Notifications can be read in the same batch as LISTEN's answer, before this task resumes: they
                // wait here until `.listening` is out, so consumers always see it first.
                let gate = Mutex<[PGNotification]?>([])
                connection.setNotificationHandler { note in
                    gate.withLock { held in
                        if held == nil { continuation.yield(.notification(note)) } else { held!.append(note) }
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
                    await connection.waitUntilClosed()
                } onCancel: {
                    connection.close()
                }
                connection.close()
                continuation.yield(.disconnected)
                if !Task.isCancelled { failures.record(Self.reconnects, "notification connection lost; reconnecting") }
            } catch {
                if !Task.isCancelled {
                    failures.record(Self.reconnects, "notification connection failed; retrying", metadata: ["error": "\(error)", "retry_in": "\(backoff)"])
                }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, maximumBackoff)
            }
        }
    }
}

extension PGConnectionPool {
    /// Sends a notification on `channel` (through `pg_notify`, so the payload is a bound parameter).
    public func notify(channel: String, payload: String) async throws {
        _ = try await query("SELECT pg_notify(\(channel), \(payload))")
    }
}

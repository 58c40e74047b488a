public import ServiceLifecycle

/// Says the summaries of a ``FailureLog`` whose interval has passed even when no failure arrives to trigger them,
/// every interval until shutdown.
public struct FailureLogFlusher: Service {
    public let log: FailureLog

    public init(log: FailureLog) { self.log = log }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: log.interval) }
            log.flush()
        }
    }
}

import Hummingbird
import Logging
import NIOCore

/// A Hummingbird application on 127.0.0.1 and an ephemeral port, running in a task until `shutdown()`.
final class LoopbackServer: Sendable {
    /// The port the kernel chose.
    let port: Int
    private let task: Task<Void, any Error>

    private init(port: Int, task: Task<Void, any Error>) {
        self.port = port
        self.task = task
    }

    /// Starts `router` and returns once the socket is bound, so the port is known.
    static func start(router: Router<FakeRequestContext>, name: String, logger: Logger) async throws -> LoopbackServer {
        let (ports, announce) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: name),
            onServerRunning: { channel in
                if let port = channel.localAddress?.port { announce.yield(port) }
                announce.finish()
            },
            logger: logger)
        // Application.run is the service without signal handlers: a test process keeps its own SIGINT and SIGTERM.
        let task = Task {
            defer { announce.finish() }
            try await app.run()
        }
        let port = await withTaskCancellationHandler {
            await ports.first { _ in true }
        } onCancel: {
            task.cancel()
        }
        guard let port else {
            // The server ended before it was running (a bind failure, say) or the caller was cancelled.
            task.cancel()
            try await task.value
            throw CancellationError()
        }
        return LoopbackServer(port: port, task: task)
    }

    /// Cancels the server, which closes the listening socket and every connection, and waits for it to end.
    func shutdown() async {
        task.cancel()
        _ = await task.result
    }
}

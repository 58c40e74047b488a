import HummingbirdCore
import Logging
import NIOCore

/// A `TaskExecutor` that runs jobs on one NIO event loop.
///
/// A connection's task that prefers its channel's loop reads the request, runs the handler and writes the
/// answer on the thread that received the bytes: no wake-up of another thread between the socket and the
/// handler and back, which on a small machine costs more than the handler itself. Handlers never block, so
/// the loop stays free for its other connections.
final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }
}

/// Wraps a server's child channel so that each connection's task runs on the event loop of its channel
/// (``EventLoopTaskExecutor``), and with it every task the handlers start without an executor of their own.
struct EventLoopAffineChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value
    let inner: Inner

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            await inner.handle(value: value, logger: logger)
        }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with each connection handled on its channel's event loop.
    static var http1OnEventLoops: HTTPServerBuilder {
        HTTPServerBuilder { responder in EventLoopAffineChannel(inner: HTTP1Channel(responder: responder)) }
    }
}

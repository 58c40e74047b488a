import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// Runs each API connection's task on one of the database I/O threads (in turn) instead of the shared
/// concurrency pool. A request that reads the database then continues on the thread that received the
/// database's answer, instead of that thread waking a pool thread to continue: one thread hand-off fewer per
/// query. Channel set-up and everything on the event loop (``ResolveFastPath`` among it) are unchanged.
struct DatabaseAffineChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value

    let inner: Inner
    let executors: ExecutorRotation

    init(_ inner: Inner, executors: ExecutorRotation) {
        self.inner = inner
        self.executors = executors
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        guard let executor = executors.next() else { return await inner.handle(value: value, logger: logger) }
        await withTaskExecutorPreference(executor) { await inner.handle(value: value, logger: logger) }
    }
}

/// Task executors handed out in turn (the database I/O threads), so that connections spread over them.
final class ExecutorRotation: Sendable {
    let executors: [any TaskExecutor]
    private let turn = Atomic<Int>(0)

    init(_ executors: [any TaskExecutor]) {
        self.executors = executors
    }

    /// The next executor; nil when there are none.
    func next() -> (any TaskExecutor)? {
        guard !executors.isEmpty else { return nil }
        return executors[(turn.add(1, ordering: .relaxed).oldValue & Int.max) % executors.count]
    }
}

import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// Runs each API connection's task on one of the database I/O threads (round robin) instead of the shared
/// concurrency pool. A request that reads the database then continues on the thread that received the
/// database's answer, instead of that thread waking a pool thread to continue: one thread hand-off fewer per
/// query. Channel set-up and everything on the event loop (``ResolveFastPath`` among it) are unchanged.
struct DatabaseAffineChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value

    let inner: Inner
    let executors: [any TaskExecutor]
    private let next = Counter()

    init(_ inner: Inner, executors: [any TaskExecutor]) {
        self.inner = inner
        self.executors = executors
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        guard !executors.isEmpty else { return await inner.handle(value: value, logger: logger) }
        let executor = executors[next.take() % executors.count]
        await withTaskExecutorPreference(executor) { await inner.handle(value: value, logger: logger) }
    }

    private final class Counter: Sendable {
        private let value = Atomic<Int>(0)
        func take() -> Int { value.add(1, ordering: .relaxed).oldValue & Int.max }
    }
}

import CLibPQ
import NIOConcurrencyHelpers
import Synchronization

/// One libpq connection, leased to one task at a time (through ``PGConnectionPool``, or owned outright).
/// An owned connection stays open, watched by the I/O loop, until ``close()``.
///
/// Queries are sent from the calling task's thread without blocking (libpq's non-blocking mode) and
/// their answers are read on ``PGIOLoop``'s thread, so no Swift task ever waits inside libpq.
///
/// The pool may also share a connection between tasks for single statements (``pipelinedQuery(_:timeout:)``):
/// libpq's pipeline mode, each statement with its own sync point, so each runs in a transaction of its own
/// and one's failure touches no other. Answers come back in the order the statements were sent.
///
/// The protocol state (commands waiting, pipeline mode, cancels, prepared statements) is a value of its own,
/// ``PGConnectionStateMachine``; this class makes the libpq calls around it.
///
/// `@unchecked Sendable`: libpq calls on `handle` and the state happen under `lock`, by the sending tasks and by
/// the I/O loop while it reads; the prepared-statement cache is the one exception (see the state's `statements`).
///
/// The members below are internal rather than private only because the extensions in `PGConnection+*.swift`
/// (connecting, queries, sending, cancels, COPY, notifications) share them; nothing outside those files uses them.
public final class PGConnection: PGIOSource, @unchecked Sendable {
    typealias State = PGConnectionStateMachine<UnsafeContinuation<PGResult?, any Error>, PGResult>
    typealias Completion = State.Completion

    let handle: OpaquePointer
    let cancelHandle: OpaquePointer?
    let socket: Int32
    /// The I/O loop that reads this connection; a pool prefers handing it to tasks running on that loop.
    let loop: PGIOLoop
    var token: UInt64 = 0

    // The hot properties below skip Swift's dynamic exclusivity checks (`@exclusivity(unchecked)`), which cost
    // several percent of a query; each says why no two accesses to it can overlap.

    let lock = NIOLock()
    /// Safe unchecked: touched under `lock`, but for `statements`, which only the task leasing it exclusively touches.
    @exclusivity(unchecked) var state = State()
    /// Numbers the commands, for their timers and cancellation handlers; taken before the lock.
    let generations = Atomic<UInt64>(0)
    /// Safe unchecked: read and written only under `lock`.
    @exclusivity(unchecked) var writeInterest = false
    /// Safe unchecked: read and written only under `lock`.
    @exclusivity(unchecked) var notificationHandler: (@Sendable (PGNotification) -> Void)?
    var closeWaiters: [CheckedContinuation<Void, Never>] = []

    /// When the pool last handed this connection back, by the pool's time source; used for idle timeouts and
    /// health checks. Safe unchecked: written by the task returning it, read by the next one it goes to or under
    /// the pool's lock while idle, and the pool's lock orders the two.
    @exclusivity(unchecked) var lastUsed = ContinuousClock.now

    init(handle: OpaquePointer, loop: PGIOLoop) {
        self.handle = handle
        self.loop = loop
        self.socket = PQsocket(handle)
        self.cancelHandle = PQgetCancel(handle)
    }

    deinit {
        // The I/O loop holds a connection until it is closed (or found broken, which closes it), so only one that
        // never reached the loop can end here unclosed; anything else is a leak of the loop's watch.
        assert(state.closed, "a PGConnection was released without close()")
        if let cancelHandle { PQfreeCancel(cancelHandle) }
        PQfinish(handle)
    }

    // MARK: State the pool reads

    /// False once the connection broke, was closed, or may receive a stray cancel.
    public var isUsable: Bool {
        lock.withLock { state.isUsable && PQstatus(handle) == CONNECTION_OK }
    }

    /// True when the connection is usable and no transaction is open, so it can go back to a pool.
    var isReusable: Bool {
        lock.withLock {
            leavePipelineIfDone()
            return state.isReusable && PQstatus(handle) == CONNECTION_OK && PQtransactionStatus(handle) == PQTRANS_IDLE
        }
    }

    /// The server process id, for diagnostics and tests.
    public var backendPID: Int32 { lock.withLock { PQbackendPID(handle) } }

    /// Closes the connection. Safe to call more than once.
    public func close() {
        let (completions, waiters) = lock.withLock { () -> ([Completion], [CheckedContinuation<Void, Never>]) in
            guard case .stopWatching(let failed) = state.close() else { return ([], []) }
            stopWatching()
            defer { closeWaiters = [] }
            return (failed, closeWaiters)
        }
        completions.forEach { $0.resume() }
        waiters.forEach { $0.resume() }
    }

    /// Returns once the connection is closed or broken (the listener uses it to notice a server restart).
    public func waitUntilClosed() async {
        await withCheckedContinuation { continuation in
            let done = lock.withLock {
                if state.isClosedOrBroken { return true }
                closeWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    // MARK: I/O loop side

    func ioReady(readable: Bool, writable: Bool) {
        var waiters: [CheckedContinuation<Void, Never>] = []
        var completions: [Completion] = []
        var notifications: [PGNotification] = []
        var handler: (@Sendable (PGNotification) -> Void)?
        let cancelHead: Bool = lock.withLock {
            defer {
                if state.broken {
                    waiters = closeWaiters
                    closeWaiters = []
                }
            }
            guard !state.closed else { return false }
            if writable && writeInterest {
                let flushed = PQflush(handle)
                if flushed == 0 {
                    writeInterest = false
                    loop.setWriteInterest(fd: socket, token: token, false)
                } else if flushed < 0 {
                    completions = connectionLost()
                    return false
                }
            }
            guard readable else { return false }
            guard PQconsumeInput(handle) == 1 else {
                completions = connectionLost()
                return false
            }
            if let notificationHandler {
                handler = notificationHandler
                notifications = takeNotifications()
            }
            guard !state.commands.isEmpty else {
                if PQstatus(handle) != CONNECTION_OK { completions = connectionLost() }
                return false
            }
            return collectResults(into: &completions)
        }
        if cancelHead { sendCancel() }
        // Outside the lock, like the completions: a handler that resumes a task needs that task's status lock,
        // which a thread cancelling the task holds while its cancellation handler (closing this connection,
        // say) waits for this lock. Delivered first, so that a command's answer never overtakes the
        // notifications read with it.
        if let handler { notifications.forEach(handler) }
        completions.forEach { $0.resume() }
        waiters.forEach { $0.resume() }
    }

    /// Reads the results that have arrived and completes the commands they finish. Returns true when a command
    /// that reached the head of the queue still needs its cancel request sent. Lock held.
    private func collectResults(into completions: inout [Completion]) -> Bool {
        var cancelHead = false
        while PQisBusy(handle) == 0 {
            let read: State.Read
            if let raw = PQgetResult(handle) {
                let status = PQresultStatus(raw)
                if status == PGRES_PIPELINE_SYNC {
                    PQclear(raw)
                    read = state.syncReceived(connectionOK: PQstatus(handle) == CONNECTION_OK)
                } else {
                    let result = PGResult(raw)
                    switch status {
                    case PGRES_COPY_IN: read = state.resultReceived(result, kind: .copyIn, error: nil)
                    case PGRES_COPY_OUT, PGRES_COPY_BOTH: read = state.resultReceived(result, kind: .otherCopy, error: nil)
                    case PGRES_PIPELINE_ABORTED: read = state.resultReceived(result, kind: .pipelineAborted, error: nil)
                    default: read = state.resultReceived(result, kind: .other, error: result.error())
                    }
                }
            } else {
                read = state.resultsEnded(connectionOK: PQstatus(handle) == CONNECTION_OK)
            }
            switch read {
            case .next:
                continue
            case .wait:
                return cancelHead
            case .complete(let completion, let cancel):
                completions.append(completion)
                cancelHead = cancel || cancelHead
                leavePipelineIfDone()
            case .completeAndWait(let completion):
                completions.append(completion)
                leavePipelineIfDone()
                return cancelHead
            case .failAll(let failed):
                completions += failed
                return false
            }
        }
        return cancelHead
    }

    /// Leaves pipeline mode once nothing waits in it (lock held).
    private func leavePipelineIfDone() {
        if state.canLeavePipeline && PQexitPipelineMode(handle) == 1 { state.leftPipeline() }
    }

    /// libpq found the connection gone: every command fails, and the socket leaves the I/O loop (lock held).
    func connectionLost() -> [Completion] {
        guard case .stopWatching(let failed) = state.connectionLost(PGError(.connectionClosed, message: Self.errorMessage(handle))) else {
            return []
        }
        stopWatching()
        return failed
    }

    /// Takes the socket out of the I/O loop (lock held). A descriptor libpq already closed, having found the
    /// connection gone, is left alone: the loop stopped watching it then, and its number may be another's by now.
    func stopWatching() {
        loop.deregister(fd: PQsocket(handle) == socket ? socket : nil, token: token)
    }
}

extension PGConnectionStateMachine.Completion where Waiter == UnsafeContinuation<PGResult?, any Error>, Response == PGResult {
    func resume() { waiter.resume(with: result.mapError { $0 as any Error }) }
}

import Glibc
import CLibPQ
import Foundation
import NIOConcurrencyHelpers
import NIOPosix
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
public final class PGConnection: PGIOSource, @unchecked Sendable {
    private typealias State = PGConnectionStateMachine<UnsafeContinuation<PGResult?, any Error>, PGResult>
    private typealias Completion = State.Completion

    private let handle: OpaquePointer
    private let cancelHandle: OpaquePointer?
    private let socket: Int32
    /// The I/O loop that reads this connection; a pool prefers handing it to tasks running on that loop.
    let loop: PGIOLoop
    private var token: UInt64 = 0

    private let lock = NIOLock()
    private var state = State()
    /// Numbers the commands, for their timers and cancellation handlers; taken before the lock.
    private let generations = Atomic<UInt64>(0)
    private var writeInterest = false
    private var notificationHandler: (@Sendable (PGNotification) -> Void)?
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []

    /// When the pool last handed this connection back; used for idle timeouts.
    var lastUsed = ContinuousClock.now

    private init(handle: OpaquePointer, loop: PGIOLoop) {
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

    /// Opens a connection. The blocking connect runs on NIO's thread pool.
    public static func connect(_ configuration: PGConnectionConfiguration) async throws -> PGConnection {
        try await connect(configuration, loop: PGIOLoop.current)
    }

    /// Opens a connection read by `loop` (nil: the caller's loop, or the next in turn).
    static func connect(_ configuration: PGConnectionConfiguration, loop: PGIOLoop?) async throws -> PGConnection {
        var parameters = configuration.parameters
        if configuration["connect_timeout"] == nil { parameters.append(("connect_timeout", "10")) }
        parameters.append(("client_encoding", "UTF8"))
        let finalParameters = parameters
        let box = try await NIOThreadPool.singleton.runIfActive { () -> SendableHandle in
            SendableHandle(pointer: Self.connectBlocking(finalParameters))
        }
        guard let handle = box.pointer else {
            throw PGError(.connectionFailed, message: "libpq could not allocate a connection")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = Self.errorMessage(handle)
            PQfinish(handle)
            throw PGError(.connectionFailed, message: message)
        }
        // Server notices ("relation already exists, skipping") would go to stderr; they may quote values.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        guard PQsetnonblocking(handle, 1) == 0 else {
            PQfinish(handle)
            throw PGError(.connectionFailed, message: "could not put the connection in non-blocking mode")
        }
        let connection = PGConnection(handle: handle, loop: loop ?? PGIOLoop.forNewConnection())
        do {
            connection.token = try connection.loop.register(fd: connection.socket, source: connection)
        } catch {
            _ = connection.state.close()  // never watched: nothing to stop
            throw error
        }
        return connection
    }

    private struct SendableHandle: @unchecked Sendable {  // handed from the connecting thread to the caller, once
        var pointer: OpaquePointer?
    }

    private static func connectBlocking(_ parameters: [(key: String, value: String)]) -> OpaquePointer? {
        let keys = parameters.map { strdup($0.key) }
        let values = parameters.map { strdup($0.value) }
        defer {
            keys.forEach { free($0) }
            values.forEach { free($0) }
        }
        let keyPointers = keys.map { UnsafePointer($0) } + [nil]
        let valuePointers = values.map { UnsafePointer($0) } + [nil]
        return PQconnectdbParams(keyPointers, valuePointers, 0)
    }

    /// libpq's last error text for a connection, with values redacted. It never includes the password.
    private static func errorMessage(_ handle: OpaquePointer) -> String {
        guard let text = PQerrorMessage(handle) else { return "unknown libpq error" }
        let message = String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
        return PGError.redactingValues(message.isEmpty ? "unknown libpq error" : message)
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

    // MARK: Queries

    /// Runs one statement with its parameters as a prepared statement (prepared once per connection)
    /// and returns its rows in binary format.
    public func query(_ query: PGQuery, timeout: Duration? = nil) async throws -> PGRows {
        if let error = query.bindings.encodingError { throw error }
        let bindings = query.bindings
        let known = state.statements.lookup(query.sql, types: bindings.parameters.lazy.map(\.type))
        if case .prepared(let name) = known {
            return PGRows(try await execute(name: name, bindings: bindings, timeout: timeout))
        }
        let types = bindings.types
        guard known == .unknown, let name = state.statements.reserve(query.sql, types: types) else {
            let result = try await roundTrip(timeout: timeout) { handle in
                bindings.withUnsafeParameters { count, values, lengths, formats in
                    PQsendQueryParams(handle, query.sql, count, types, values, lengths, formats, 1)
                }
            }
            return PGRows(try result.unwrap())
        }
        do {
            _ = try await roundTrip(timeout: timeout) { handle in
                PQsendPrepare(handle, name, query.sql, Int32(types.count), types)
            }
        } catch {
            state.statements.forget(query.sql, name: name)
            throw error
        }
        state.statements.accept(query.sql, name: name)
        return PGRows(try await execute(name: name, bindings: bindings, timeout: timeout))
    }

    /// Runs one statement like ``query(_:timeout:)`` on a connection other tasks may be using at the same time:
    /// it joins the connection's pipeline with a sync point of its own, so it runs in its own transaction.
    /// A statement that could not be sent, or that a cancel meant for another statement stopped, fails with an
    /// error whose `didNotRun` is true: nothing of it took effect, and it may be sent again elsewhere.
    func pipelinedQuery(_ query: PGQuery, timeout: Duration? = nil) async throws -> PGRows {
        if let error = query.bindings.encodingError { throw error }
        let result = try await waitForAnswer(timeout: timeout, cancellable: true) { generation, continuation, failed in
            sendPipelined(query, generation: generation, continuation: continuation, failing: &failed)
        }
        return PGRows(try result.unwrap())
    }

    private func execute(name: String, bindings: PGBindings, timeout: Duration?) async throws -> PGResult {
        try await roundTrip(timeout: timeout) { handle in
            bindings.withUnsafeParameters { count, values, lengths, formats in
                PQsendQueryPrepared(handle, name, count, values, lengths, formats, 1)
            }
        }.unwrap()
    }

    /// Runs SQL text through the simple query protocol: several statements allowed, no parameters,
    /// no rows returned. For transaction control and migrations.
    public func execute(unsafeSQL sql: String, timeout: Duration? = nil) async throws {
        _ = try await roundTrip(timeout: timeout) { handle in PQsendQuery(handle, sql) }
    }

    /// Appends `rows` with `sql`, a `COPY table (columns…) FROM STDIN (FORMAT binary)`, and returns the number
    /// of rows the server stored: all of them or, on an error, none. Two round trips, however many rows.
    public func copyIn(unsafeSQL sql: String, rows: PGCopyRows, timeout: Duration? = nil) async throws -> Int {
        let data = try rows.encoded()
        let started = try await roundTrip(timeout: timeout, acceptsCopyIn: true) { handle in PQsendQuery(handle, sql) }
        guard let started, PQresultStatus(started.handle) == PGRES_COPY_IN else {
            throw PGError(.protocolViolation, message: "the statement did not start a COPY FROM STDIN")
        }
        let finished = try await roundTrip(timeout: timeout) { handle in
            // libpq queues the data, growing its buffer; the I/O loop sends what the socket does not take now.
            for part in [data, PGCopyRows.trailer] {
                let queued = part.withUnsafeBufferPointer { bytes -> Bool in
                    let chunk = 1 << 20
                    for start in stride(from: 0, to: bytes.count, by: chunk) {
                        let count = min(chunk, bytes.count - start)
                        let sent = bytes.baseAddress!.advanced(by: start).withMemoryRebound(to: CChar.self, capacity: count) {
                            PQputCopyData(handle, $0, Int32(count))
                        }
                        if sent != 1 { return false }
                    }
                    return true
                }
                guard queued else { return -1 }
            }
            return PQputCopyEnd(handle, nil)
        }
        return try finished.unwrap().affectedRows
    }

    /// Rolls back the open transaction even when the task is cancelled; a failure leaves the connection
    /// mid-transaction, which the pool then refuses to reuse.
    func rollbackIgnoringCancellation() async {
        _ = try? await roundTrip(timeout: nil, cancellable: false) { handle in PQsendQuery(handle, "ROLLBACK") }
    }

    /// Sends with `send` (under the lock, on this thread) and waits for every result of the command.
    /// A cancellable round trip cancels the statement on the server when the task is cancelled.
    private func roundTrip(
        timeout: Duration?, cancellable: Bool = true, acceptsCopyIn: Bool = false, _ send: (OpaquePointer) -> Int32
    ) async throws -> PGResult? {
        try await waitForAnswer(timeout: timeout, cancellable: cancellable) { generation, continuation, failed in
            sendExclusive(generation: generation, acceptsCopyIn: acceptsCopyIn, continuation: continuation, failing: &failed, send)
        }
    }

    private typealias Answer = UnsafeContinuation<PGResult?, any Error>
    /// Sends a command under the lock: it hands the command to the state, or returns why it could not and adds
    /// the commands that fail with it, when the connection is gone, to the completions.
    private typealias Send = (UInt64, Answer, inout [Completion]) -> PGError?

    /// Sends a command with `send` and waits for its answer, cancelling the statement on the server when the task
    /// is cancelled (if `cancellable`) or when `timeout` passes.
    private func waitForAnswer(
        timeout: Duration?, cancellable: Bool, _ send: Send
    ) async throws -> PGResult? {
        if cancellable && Task.isCancelled {
            throw PGError(.cancelled, message: "the task was cancelled before the statement was sent")
        }
        let generation = generations.wrappingAdd(1, ordering: .relaxed).newValue
        let timer: Task<Void, Never>? = timeout.map { timeout in
            Task { [weak self] in
                guard (try? await Task.sleep(for: timeout)) != nil else { return }
                self?.requestCancel(generation: generation, reason: .timeout)
            }
        }
        defer { timer?.cancel() }
        guard cancellable else { return try await sendAndWait(generation: generation, send) }
        return try await withTaskCancellationHandler {
            try await sendAndWait(generation: generation, send)
        } onCancel: {
            requestCancel(generation: generation, reason: .task)
        }
    }

    private func sendAndWait(generation: UInt64, _ send: Send) async throws -> PGResult? {
        try await withUnsafeThrowingContinuation { continuation in
            var failed: [Completion] = []
            var waiters: [CheckedContinuation<Void, Never>] = []
            let failure: PGError? = lock.withLock {
                if let refusal = state.refusal() { return refusal }
                defer {
                    if state.broken {
                        waiters = closeWaiters
                        closeWaiters = []
                    }
                }
                if let failure = send(generation, continuation, &failed) { return failure }
                let flushed = PQflush(handle)
                if flushed == 1 {
                    if !writeInterest {
                        writeInterest = true
                        loop.setWriteInterest(fd: socket, token: token, true)
                    }
                } else if flushed < 0 {
                    failed = connectionLost()  // this command's continuation is among them
                }
                return nil
            }
            if let failure { continuation.resume(throwing: failure) }
            failed.forEach { $0.resume() }
            waiters.forEach { $0.resume() }
        }
    }

    /// Sends a command on a connection used by one task (lock held).
    private func sendExclusive(
        generation: UInt64, acceptsCopyIn: Bool, continuation: Answer, failing failed: inout [Completion],
        _ send: (OpaquePointer) -> Int32
    ) -> PGError? {
        precondition(state.commands.isEmpty, "a PGConnection was used by two tasks at once")
        if state.pipelined {
            guard PQexitPipelineMode(handle) == 1 else { return sendFailed(pipelined: false, queued: false, failing: &failed) }
            state.leftPipeline()
        }
        guard send(handle) == 1 else { return sendFailed(pipelined: false, queued: false, failing: &failed) }
        state.sent(State.Command(waiter: continuation, generation: generation, acceptsCopyIn: acceptsCopyIn))
        return nil
    }

    /// Queues one statement and its sync point in the pipeline, preparing it first if this connection has not
    /// (lock held).
    private func sendPipelined(_ query: PGQuery, generation: UInt64, continuation: Answer, failing failed: inout [Completion]) -> PGError? {
        let bindings = query.bindings
        let enterPipeline: Bool
        let statement: State.Statement
        switch state.planPipelined(sql: query.sql, bindings: bindings) {
        case .fail(let error): return error
        case .send(let enter, let planned): (enterPipeline, statement) = (enter, planned)
        }
        var preparing: (sql: String, name: String)?
        if case .prepare(let name) = statement { preparing = (query.sql, name) }
        if enterPipeline {
            guard PQenterPipelineMode(handle) == 1 else {
                return sendFailed(pipelined: true, queued: false, preparing: preparing, failing: &failed)
            }
            state.enteredPipeline()
        }
        var name: String?
        switch statement {
        case .prepared(let known): name = known
        case .unnamed: name = nil
        case .prepare(let newName):
            let types = bindings.types
            guard PQsendPrepare(handle, newName, query.sql, Int32(types.count), types) == 1 else {
                return sendFailed(pipelined: true, queued: false, preparing: preparing, failing: &failed)
            }
            name = newName
        }
        let sent = bindings.withUnsafeParameters { count, values, lengths, formats in
            if let name { return PQsendQueryPrepared(handle, name, count, values, lengths, formats, 1) }
            return PQsendQueryParams(handle, query.sql, count, bindings.types, values, lengths, formats, 1)
        }
        guard sent == 1, PQpipelineSync(handle) == 1 else {
            return sendFailed(pipelined: true, queued: true, preparing: preparing, failing: &failed)
        }
        state.sent(State.Command(waiter: continuation, generation: generation, prepared: preparing))
        return nil
    }

    /// Called with the lock held after a libpq send call failed: the sender's error. If the connection is gone,
    /// every command waiting on it fails too (added to `failed`): no read will tell them, since libpq may have
    /// closed the socket, which takes it out of the I/O loop's watch.
    private func sendFailed(
        pipelined: Bool, queued: Bool, preparing: (sql: String, name: String)? = nil, failing failed: inout [Completion]
    ) -> PGError {
        let failure = state.sendFailed(
            message: Self.errorMessage(handle), connectionOK: PQstatus(handle) == CONNECTION_OK, pipelined: pipelined, queued: queued,
            preparing: preparing)
        switch failure {
        case .failSender(let error):
            return error
        case .close(let error, let waiting):
            stopWatching()
            failed += waiting
            return error
        }
    }

    /// Asks the server to cancel the statement of `generation`, if it is still running.
    private func requestCancel(generation: UInt64, reason: State.CancelReason) {
        let sendNow = lock.withLock { state.cancelRequested(generation: generation, reason: reason) }
        if sendNow { sendCancel() }
    }

    private func sendCancel() {
        guard let cancelHandle else { return }
        let request = SendableHandle(pointer: cancelHandle)
        NIOThreadPool.singleton.submit { [self] state in
            guard case .active = state else { return }
            var buffer = [CChar](repeating: 0, count: 256)
            _ = PQcancel(request.pointer, &buffer, Int32(buffer.count))
            _ = self  // keeps the connection, and so the cancel handle, alive until the request is sent
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
    private func connectionLost() -> [Completion] {
        guard case .stopWatching(let failed) = state.connectionLost(PGError(.connectionClosed, message: Self.errorMessage(handle))) else {
            return []
        }
        stopWatching()
        return failed
    }

    /// Takes the socket out of the I/O loop (lock held). A descriptor libpq already closed, having found the
    /// connection gone, is left alone: the loop stopped watching it then, and its number may be another's by now.
    private func stopWatching() {
        loop.deregister(fd: PQsocket(handle) == socket ? socket : nil, token: token)
    }

    // MARK: Notifications

    /// Routes NOTIFY messages arriving on this connection to `handler` (called on the I/O loop's thread).
    func setNotificationHandler(_ handler: (@Sendable (PGNotification) -> Void)?) {
        lock.withLock { notificationHandler = handler }
    }

    /// The notifications libpq has read (lock held).
    private func takeNotifications() -> [PGNotification] {
        var notifications: [PGNotification] = []
        while let notify = PQnotifies(handle) {
            let channel = String(cString: notify.pointee.relname)
            let payload = String(cString: notify.pointee.extra)
            let pid = notify.pointee.be_pid
            PQfreemem(notify)
            notifications.append(PGNotification(channel: channel, payload: payload, backendPID: pid))
        }
        return notifications
    }
}

extension PGConnectionStateMachine.Completion where Waiter == UnsafeContinuation<PGResult?, any Error>, Response == PGResult {
    func resume() { waiter.resume(with: result.mapError { $0 as any Error }) }
}

extension Optional where Wrapped == PGResult {
    fileprivate func unwrap() throws -> PGResult {
        guard let self else { throw PGError(.protocolViolation, message: "the server returned no result") }
        return self
    }
}

/// A message sent with NOTIFY.
public struct PGNotification: Sendable, Hashable {
    public var channel: String
    public var payload: String
    /// The server process that sent it.
    public var backendPID: Int32
}

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
/// `@unchecked Sendable`: libpq calls on `handle` happen under `lock`, by the sending tasks and by the I/O loop
/// while it reads. The prepared-statement cache is touched under `lock` by pipelined statements, and without it
/// by the task leasing the connection exclusively, which the pool never does while the connection is shared.
public final class PGConnection: PGIOSource, @unchecked Sendable {
    enum CancelReason { case task, timeout }

    private struct Pending {
        var continuation: UnsafeContinuation<PGResult?, any Error>
        var generation: UInt64
        var lastResult: PGResult?
        var firstError: PGError?
        var cancelReason: CancelReason?
        /// A cancel request went to the server for this command (at once, or when it reached the head).
        var cancelSent = false
        /// The command starts a COPY FROM STDIN: its `PGRES_COPY_IN` result ends the wait.
        var acceptsCopyIn = false
        /// Pipeline mode: the statement this command prepares on the way. Its first result answers the
        /// preparation; if that is an error, the statement is forgotten again.
        var prepared: (sql: String, name: String)?
        var preparationAnswered = false
        var preparationFailed = false
    }

    private let handle: OpaquePointer
    private let cancelHandle: OpaquePointer?
    private let socket: Int32
    /// The I/O loop that reads this connection; a pool prefers handing it to tasks running on that loop.
    let loop: PGIOLoop
    private var token: UInt64 = 0

    private let lock = NIOLock()
    /// Commands sent and not yet answered, oldest first: at most one outside pipeline mode.
    private var pending: [Pending] = []
    private let generations = Atomic<UInt64>(0)
    /// In libpq's pipeline mode: entered for the first pipelined statement, left when the last is answered.
    private var pipelined = false
    /// Cancel requests sent on this connection that no statement has received yet: while there are any, a
    /// statement that did not ask for one may receive it.
    private var cancelsInFlight = 0
    private var broken = false
    private var closed = false
    /// A cancel request may still reach the server after the statement it was meant for: never reuse.
    private var poisoned = false
    private var writeInterest = false
    private var notificationHandler: (@Sendable (PGNotification) -> Void)?
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []

    private var statements = PGPreparedStatements()

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
        assert(closed, "a PGConnection was released without close()")
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
            connection.closed = true  // never watched: nothing to stop
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
        lock.withLock { !broken && !closed && !poisoned && PQstatus(handle) == CONNECTION_OK }
    }

    /// True when the connection is usable and no transaction is open, so it can go back to a pool.
    var isReusable: Bool {
        lock.withLock {
            if pipelined && pending.isEmpty && PQexitPipelineMode(handle) == 1 { pipelined = false }
            return !broken && !closed && !poisoned && !pipelined && PQstatus(handle) == CONNECTION_OK
                && PQtransactionStatus(handle) == PQTRANS_IDLE
        }
    }

    /// The server process id, for diagnostics and tests.
    public var backendPID: Int32 { lock.withLock { PQbackendPID(handle) } }

    /// Closes the connection. Safe to call more than once.
    public func close() {
        let (completion, waiters) = lock.withLock { () -> ([Completion], [CheckedContinuation<Void, Never>]) in
            guard !closed else { return ([], []) }
            closed = true
            stopWatching()
            defer { closeWaiters = [] }
            return (failPending(PGError(.connectionClosed, message: "the connection was closed")), closeWaiters)
        }
        completion.forEach { $0.resume() }
        waiters.forEach { $0.resume() }
    }

    /// Returns once the connection is closed or broken (the listener uses it to notice a server restart).
    public func waitUntilClosed() async {
        await withCheckedContinuation { continuation in
            let done = lock.withLock {
                if closed || broken { return true }
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
        let known = statements.lookup(query.sql, types: bindings.parameters.lazy.map(\.type))
        if case .prepared(let name) = known {
            return PGRows(try await execute(name: name, bindings: bindings, timeout: timeout))
        }
        let types = bindings.types
        guard known == .unknown, let name = statements.reserve(query.sql, types: types) else {
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
            statements.forget(query.sql, name: name)
            throw error
        }
        statements.accept(query.sql, name: name)
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
    /// Sends a command under the lock: it queues the command's ``Pending``, or returns why it could not and adds
    /// the commands it failed with it, if the connection is gone, to the completions.
    private typealias Send = (UInt64, Answer, inout [Completion]) -> PGError?

    /// Sends a command with `send` and waits for its answer, cancelling the statement on the server when the task is cancelled
    /// (if `cancellable`) or when `timeout` passes.
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
                guard !broken, !closed else {
                    return PGError(.connectionClosed, message: "the connection is closed")
                }
                defer {
                    if broken {
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
                    failed = failBroken()  // this command's continuation is among them
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
        precondition(pending.isEmpty, "a PGConnection was used by two tasks at once")
        if pipelined {
            guard PQexitPipelineMode(handle) == 1 else { return markBrokenIfNeeded(Self.errorMessage(handle), failing: &failed) }
            pipelined = false
        }
        guard send(handle) == 1 else { return markBrokenIfNeeded(Self.errorMessage(handle), failing: &failed) }
        pending.append(Pending(continuation: continuation, generation: generation, acceptsCopyIn: acceptsCopyIn))
        return nil
    }

    /// Queues one statement and its sync point in the pipeline, preparing it first if this connection has not
    /// (lock held).
    private func sendPipelined(_ query: PGQuery, generation: UInt64, continuation: Answer, failing failed: inout [Completion]) -> PGError? {
        func notRun(_ error: PGError) -> PGError {
            var error = error
            error.didNotRun = true
            return error
        }
        guard !poisoned else { return notRun(PGError(.connectionClosed, message: "the connection is being retired")) }
        if !pipelined {
            guard PQenterPipelineMode(handle) == 1 else { return notRun(markBrokenIfNeeded(Self.errorMessage(handle), failing: &failed)) }
            pipelined = true
        }
        let bindings = query.bindings
        var name: String?
        var prepared: (sql: String, name: String)?
        switch statements.lookup(query.sql, types: bindings.parameters.lazy.map(\.type)) {
        case .prepared(let known): name = known
        case .preparing: break  // unnamed, rather than depend on a Parse that may yet fail
        case .unknown:
            let types = bindings.types
            if let newName = statements.reserve(query.sql, types: types) {
                guard PQsendPrepare(handle, newName, query.sql, Int32(types.count), types) == 1 else {
                    statements.forget(query.sql, name: newName)
                    return notRun(markBrokenIfNeeded(Self.errorMessage(handle), failing: &failed))
                }
                prepared = (query.sql, newName)
                name = newName
            }
        }
        let sent = bindings.withUnsafeParameters { count, values, lengths, formats in
            if let name { return PQsendQueryPrepared(handle, name, count, values, lengths, formats, 1) }
            return PQsendQueryParams(handle, query.sql, count, bindings.types, values, lengths, formats, 1)
        }
        guard sent == 1, PQpipelineSync(handle) == 1 else {
            // Part of a command may be queued without its sync point: nothing may follow it on this connection.
            poisoned = true
            if let prepared { statements.forget(prepared.sql, name: prepared.name) }
            return markBrokenIfNeeded(Self.errorMessage(handle), failing: &failed)
        }
        pending.append(Pending(continuation: continuation, generation: generation, prepared: prepared))
        return nil
    }

    /// Called with the lock held after a libpq send call failed: the error. If the connection is gone, every
    /// command waiting on it fails too (added to `failed`): no read will tell them, since libpq may have closed
    /// the socket, which takes it out of the I/O loop's watch.
    private func markBrokenIfNeeded(_ message: String, failing failed: inout [Completion]) -> PGError {
        if PQstatus(handle) != CONNECTION_OK {
            failed += failBroken()
            return PGError(.connectionClosed, message: message)
        }
        return PGError(.protocolViolation, message: message)
    }

    /// Asks the server to cancel the statement of `generation`, if it is still running. A pipelined statement
    /// behind others is cancelled when it reaches the head of the queue, so the request stops no other.
    private func requestCancel(generation: UInt64, reason: CancelReason) {
        let sendNow = lock.withLock {
            guard let index = pending.firstIndex(where: { $0.generation == generation }), pending[index].cancelReason == nil else {
                return false
            }
            pending[index].cancelReason = reason
            return index == 0 && markHeadCancelSent()
        }
        if sendNow { sendCancel() }
    }

    /// Records that the head command's cancel request goes out now, if it asked for one (lock held).
    private func markHeadCancelSent() -> Bool {
        guard let head = pending.first, head.cancelReason != nil, !head.cancelSent else { return false }
        pending[0].cancelSent = true
        cancelsInFlight += 1
        return true
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
                if broken {
                    waiters = closeWaiters
                    closeWaiters = []
                }
            }
            guard !closed else { return false }
            if writable && writeInterest {
                let flushed = PQflush(handle)
                if flushed == 0 {
                    writeInterest = false
                    loop.setWriteInterest(fd: socket, token: token, false)
                } else if flushed < 0 {
                    completions = failBroken()
                    return false
                }
            }
            guard readable else { return false }
            guard PQconsumeInput(handle) == 1 else {
                completions = failBroken()
                return false
            }
            if let notificationHandler {
                handler = notificationHandler
                notifications = takeNotifications()
            }
            guard !pending.isEmpty else {
                if PQstatus(handle) != CONNECTION_OK { completions = failBroken() }
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
        var endedStatement = false
        while PQisBusy(handle) == 0 {
            guard let raw = PQgetResult(handle) else {
                guard pipelined else {
                    if let completion = finishHead() { completions.append(completion) }
                    return cancelHead
                }
                // In pipeline mode a null result ends one statement's results; its command ends at its sync point.
                if endedStatement || pending.isEmpty { return cancelHead }
                endedStatement = true
                continue
            }
            endedStatement = false
            let status = PQresultStatus(raw)
            if status == PGRES_PIPELINE_SYNC {
                PQclear(raw)
                if let completion = finishHead() { completions.append(completion) }
                cancelHead = markHeadCancelSent() || cancelHead
                continue
            }
            let result = PGResult(raw)
            guard let head = pending.first else { continue }
            if status == PGRES_COPY_IN, head.acceptsCopyIn, head.firstError == nil {
                // The server waits for the data now; libpq would hand this result out again and again.
                pending.removeFirst()
                if head.cancelSent { poisoned = true }
                completions.append(Completion(continuation: head.continuation, result: .success(result)))
                return cancelHead
            }
            if status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH {
                broken = true
                completions += failPending(PGError(.protocolViolation, message: "COPY is supported only as copyIn (FROM STDIN)"))
                return false
            }
            if status == PGRES_PIPELINE_ABORTED {
                // Only after an earlier failure in the same command, whose error is already kept.
                if head.firstError == nil {
                    pending[0].firstError = PGError(.protocolViolation, message: "the server skipped a statement of the pipeline")
                }
                continue
            }
            let error = result.error()
            if let prepared = head.prepared, !head.preparationAnswered {
                pending[0].preparationAnswered = true
                pending[0].preparationFailed = error != nil
                if error == nil { statements.accept(prepared.sql, name: prepared.name) }
            }
            if let error {
                if head.firstError == nil { pending[0].firstError = error }
            } else {
                pending[0].lastResult = result
            }
        }
        return cancelHead
    }

    /// Removes the head command, all of whose results have arrived, and returns its completion. Lock held.
    private func finishHead() -> Completion? {
        guard !pending.isEmpty else { return nil }
        let finished = pending.removeFirst()
        let wasPipelined = pipelined
        let cancelled = finished.firstError?.sqlState == "57014"
        if finished.cancelSent {
            // Received by its statement, or still on its way to whichever statement runs when it arrives.
            if cancelled { cancelsInFlight = max(0, cancelsInFlight - 1) } else { poisoned = true }
        }
        if PQstatus(handle) != CONNECTION_OK { broken = true }
        if pipelined && pending.isEmpty && PQexitPipelineMode(handle) == 1 { pipelined = false }
        guard var error = finished.firstError else {
            return Completion(continuation: finished.continuation, result: .success(finished.lastResult))
        }
        // A statement the server did not prepare is prepared again next time; one that failed only when it ran stays.
        if let prepared = finished.prepared, finished.preparationFailed || !finished.preparationAnswered {
            statements.forget(prepared.sql, name: prepared.name)
        }
        if cancelled {
            if wasPipelined && !finished.cancelSent && finished.cancelReason == nil && cancelsInFlight > 0 {
                // A cancel meant for the statement before it arrived late. The statement's transaction was rolled back.
                cancelsInFlight -= 1
                error.code = .connectionClosed
                error.message = "the statement was stopped by a cancel request meant for another statement on its connection"
                error.didNotRun = true
            } else {
                error.code = finished.cancelReason == .task ? .cancelled : .statementTimeout
            }
        }
        return Completion(continuation: finished.continuation, result: .failure(error))
    }

    private func failBroken() -> [Completion] {
        broken = true
        let message = Self.errorMessage(handle)
        if !closed {
            closed = true
            stopWatching()
        }
        return failPending(PGError(.connectionClosed, message: message))
    }

    /// Takes the socket out of the I/O loop (lock held). A descriptor libpq already closed, having found the
    /// connection gone, is left alone: the loop stopped watching it then, and its number may be another's by now.
    private func stopWatching() {
        loop.deregister(fd: PQsocket(handle) == socket ? socket : nil, token: token)
    }

    private func failPending(_ error: PGError) -> [Completion] {
        defer { pending.removeAll() }
        return pending.map { Completion(continuation: $0.continuation, result: .failure(error)) }
    }

    /// A continuation to resume once the lock is released.
    private struct Completion {
        var continuation: UnsafeContinuation<PGResult?, any Error>
        var result: Result<PGResult?, PGError>
        func resume() { continuation.resume(with: result.mapError { $0 as any Error }) }
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

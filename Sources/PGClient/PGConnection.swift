import Glibc
import CLibPQ
import Foundation
import NIOConcurrencyHelpers
import NIOPosix

/// One libpq connection, leased to one task at a time (through ``PGConnectionPool``, or owned outright).
/// An owned connection stays open, watched by the I/O loop, until ``close()``.
///
/// Queries are sent from the calling task's thread without blocking (libpq's non-blocking mode) and
/// their answers are read on ``PGIOLoop``'s thread, so no Swift task ever waits inside libpq.
///
/// `@unchecked Sendable`: libpq calls on `handle` happen under `lock`, by the leasing task while it sends,
/// and by the I/O loop while it reads; the prepared-statement cache is touched only by the leasing task,
/// which holds the connection exclusively.
public final class PGConnection: PGIOSource, @unchecked Sendable {
    enum CancelReason { case task, timeout }

    private struct Pending {
        var continuation: UnsafeContinuation<PGResult?, any Error>
        var generation: UInt64
        var lastResult: PGResult?
        var firstError: PGError?
        var cancelReason: CancelReason?
        /// The command starts a COPY FROM STDIN: its `PGRES_COPY_IN` result ends the wait.
        var acceptsCopyIn = false
    }

    private let handle: OpaquePointer
    private let cancelHandle: OpaquePointer?
    private let socket: Int32
    /// The I/O loop that reads this connection; a pool prefers handing it to tasks running on that loop.
    let loop: PGIOLoop
    private var token: UInt64 = 0

    private let lock = NIOLock()
    private var pending: Pending?
    private var generation: UInt64 = 0
    private var broken = false
    private var closed = false
    /// A cancel request may still reach the server after the statement it was meant for: never reuse.
    private var poisoned = false
    private var writeInterest = false
    private var notificationHandler: (@Sendable (PGNotification) -> Void)?
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []

    /// Prepared statements by SQL text, each with the parameter types it was prepared for.
    private var statements: [String: [(types: [UInt32], name: String)]] = [:]
    private var statementCount = 0
    private var nextStatementID = 0
    private static let statementCacheLimit = 512

    /// When the pool last handed this connection back; used for idle timeouts.
    var lastUsed = ContinuousClock.now

    private init(handle: OpaquePointer, loop: PGIOLoop) {
        self.handle = handle
        self.loop = loop
        self.socket = PQsocket(handle)
        self.cancelHandle = PQgetCancel(handle)
    }

    deinit {
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
        if configuration["fallback_application_name"] == nil { parameters.append(("fallback_application_name", "resolverd")) }
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
        connection.token = try connection.loop.register(fd: connection.socket, source: connection)
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
            !broken && !closed && !poisoned && PQstatus(handle) == CONNECTION_OK && PQtransactionStatus(handle) == PQTRANS_IDLE
        }
    }

    /// The server process id, for diagnostics and tests.
    public var backendPID: Int32 { lock.withLock { PQbackendPID(handle) } }

    /// Closes the connection. Safe to call more than once.
    public func close() {
        let wasClosed = lock.withLock {
            defer { closed = true }
            return closed
        }
        guard !wasClosed else { return }
        loop.deregister(fd: socket, token: token)
        let (completion, waiters) = lock.withLock {
            defer { closeWaiters = [] }
            return (failPending(PGError(.connectionClosed, message: "the connection was closed")), closeWaiters)
        }
        completion?.resume()
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
        if let name = statements[query.sql]?.first(where: { $0.types.elementsEqual(bindings.parameters.lazy.map(\.type)) })?.name {
            return PGRows(try await execute(name: name, bindings: bindings, timeout: timeout))
        }
        let types = bindings.types
        guard statementCount < Self.statementCacheLimit else {
            let result = try await roundTrip(timeout: timeout) { handle in
                bindings.withUnsafeParameters { count, values, lengths, formats in
                    PQsendQueryParams(handle, query.sql, count, types, values, lengths, formats, 1)
                }
            }
            return PGRows(try result.unwrap())
        }
        nextStatementID += 1
        let name = "resolverd_\(nextStatementID)"
        _ = try await roundTrip(timeout: timeout) { handle in
            PQsendPrepare(handle, name, query.sql, Int32(types.count), types)
        }
        statements[query.sql, default: []].append((types, name))
        statementCount += 1
        return PGRows(try await execute(name: name, bindings: bindings, timeout: timeout))
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
        if cancellable && Task.isCancelled {
            throw PGError(.cancelled, message: "the task was cancelled before the statement was sent")
        }
        let generation = self.generation &+ 1
        let timer: Task<Void, Never>? = timeout.map { timeout in
            Task { [weak self] in
                guard (try? await Task.sleep(for: timeout)) != nil else { return }
                self?.requestCancel(generation: generation, reason: .timeout)
            }
        }
        defer { timer?.cancel() }
        guard cancellable else { return try await sendAndWait(generation: generation, acceptsCopyIn: acceptsCopyIn, send) }
        return try await withTaskCancellationHandler {
            try await sendAndWait(generation: generation, acceptsCopyIn: acceptsCopyIn, send)
        } onCancel: {
            requestCancel(generation: generation, reason: .task)
        }
    }

    private func sendAndWait(
        generation: UInt64, acceptsCopyIn: Bool, _ send: (OpaquePointer) -> Int32
    ) async throws -> PGResult? {
        try await withUnsafeThrowingContinuation { continuation in
            let failure: PGError? = lock.withLock {
                guard !broken, !closed else {
                    return PGError(.connectionClosed, message: "the connection is closed")
                }
                precondition(pending == nil, "a PGConnection was used by two tasks at once")
                guard send(handle) == 1 else { return markBrokenIfNeeded(Self.errorMessage(handle)) }
                self.generation = generation
                pending = Pending(continuation: continuation, generation: generation, acceptsCopyIn: acceptsCopyIn)
                let flushed = PQflush(handle)
                if flushed == 1 {
                    writeInterest = true
                    loop.setWriteInterest(fd: socket, token: token, true)
                } else if flushed < 0 {
                    pending = nil
                    return markBrokenIfNeeded(Self.errorMessage(handle))
                }
                return nil
            }
            if let failure { continuation.resume(throwing: failure) }
        }
    }

    /// Called with the lock held after a libpq call failed: the error, marking the connection broken if it is.
    private func markBrokenIfNeeded(_ message: String) -> PGError {
        if PQstatus(handle) != CONNECTION_OK {
            broken = true
            return PGError(.connectionClosed, message: message)
        }
        return PGError(.protocolViolation, message: message)
    }

    /// Asks the server to cancel the statement of `generation`, if it is still running.
    private func requestCancel(generation: UInt64, reason: CancelReason) {
        let shouldCancel = lock.withLock {
            guard var current = pending, current.generation == generation, current.cancelReason == nil else { return false }
            current.cancelReason = reason
            pending = current
            return true
        }
        guard shouldCancel, let cancelHandle else { return }
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
        defer { waiters.forEach { $0.resume() } }
        let completion: Completion? = lock.withLock {
            defer {
                if broken {
                    waiters = closeWaiters
                    closeWaiters = []
                }
            }
            guard !closed else { return nil }
            if writable && writeInterest {
                let flushed = PQflush(handle)
                if flushed == 0 {
                    writeInterest = false
                    loop.setWriteInterest(fd: socket, token: token, false)
                } else if flushed < 0 {
                    return failBroken()
                }
            }
            guard readable else { return nil }
            guard PQconsumeInput(handle) == 1 else { return failBroken() }
            if let notificationHandler { deliverNotifications(to: notificationHandler) }
            guard pending != nil else {
                if PQstatus(handle) != CONNECTION_OK { return failBroken() }
                return nil
            }
            return collectResults()
        }
        completion?.resume()
    }

    /// Reads finished results; returns the completion when the command is done. Lock held.
    private func collectResults() -> Completion? {
        while PQisBusy(handle) == 0 {
            guard let raw = PQgetResult(handle) else {
                guard let finished = pending else { return nil }
                pending = nil
                if finished.cancelReason != nil && finished.firstError?.sqlState != "57014" { poisoned = true }
                if PQstatus(handle) != CONNECTION_OK { broken = true }
                if var error = finished.firstError {
                    if error.sqlState == "57014" {
                        error.code = finished.cancelReason == .task ? .cancelled : .statementTimeout
                    }
                    return Completion(continuation: finished.continuation, result: .failure(error))
                }
                return Completion(continuation: finished.continuation, result: .success(finished.lastResult))
            }
            let result = PGResult(raw)
            let status = PQresultStatus(raw)
            if status == PGRES_COPY_IN, let started = pending, started.acceptsCopyIn, started.firstError == nil {
                // The server waits for the data now; libpq would hand this result out again and again.
                pending = nil
                if started.cancelReason != nil { poisoned = true }
                return Completion(continuation: started.continuation, result: .success(result))
            }
            if status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH {
                broken = true
                return failPending(PGError(.protocolViolation, message: "COPY is supported only as copyIn (FROM STDIN)"))
            }
            if let error = result.error() {
                if pending?.firstError == nil { pending?.firstError = error }
            } else {
                pending?.lastResult = result
            }
        }
        return nil
    }

    private func failBroken() -> Completion? {
        broken = true
        let message = Self.errorMessage(handle)
        if !closed {
            closed = true
            loop.deregister(fd: socket, token: token)
        }
        return failPending(PGError(.connectionClosed, message: message))
    }

    private func failPending(_ error: PGError) -> Completion? {
        guard let finished = pending else { return nil }
        pending = nil
        return Completion(continuation: finished.continuation, result: .failure(error))
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

    private func deliverNotifications(to handler: @Sendable (PGNotification) -> Void) {
        while let notify = PQnotifies(handle) {
            let channel = String(cString: notify.pointee.relname)
            let payload = String(cString: notify.pointee.extra)
            let pid = notify.pointee.be_pid
            PQfreemem(notify)
            handler(PGNotification(channel: channel, payload: payload, backendPID: pid))
        }
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

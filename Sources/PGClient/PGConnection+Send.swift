import CLibPQ
import NIOConcurrencyHelpers
import Synchronization

// Sending a command under the lock and waiting for its answer, with its timeout and cancellation.
extension PGConnection {
    /// Sends with `send` (under the lock, on this thread) and waits for every result of the command.
    /// A cancellable round trip cancels the statement on the server when the task is cancelled.
    func roundTrip(
        timeout: Duration?, cancellable: Bool = true, acceptsCopyIn: Bool = false, _ send: (OpaquePointer) -> Int32
    ) async throws -> PGResult? {
        try await waitForAnswer(timeout: timeout, cancellable: cancellable) { generation, continuation, failed in
            sendExclusive(generation: generation, acceptsCopyIn: acceptsCopyIn, continuation: continuation, failing: &failed, send)
        }
    }

    typealias Answer = UnsafeContinuation<PGResult?, any Error>
    /// Sends a command under the lock: it hands the command to the state, or returns why it could not and adds
    /// the commands that fail with it, when the connection is gone, to the completions.
    typealias Send = (UInt64, Answer, inout [Completion]) -> PGError?

    /// Sends a command with `send` and waits for its answer, cancelling the statement on the server when the task
    /// is cancelled (if `cancellable`) or when `timeout` passes.
    func waitForAnswer(
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
    func sendPipelined(_ query: PGQuery, generation: UInt64, continuation: Answer, failing failed: inout [Completion]) -> PGError? {
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
}

/// The protocol state of one connection, without I/O: the commands sent and not yet answered (oldest first, at
/// most one outside pipeline mode), pipeline mode, cancel requests in flight, whether the connection may still
/// be used, and its prepared statements.
///
/// ``PGConnection`` holds it under its lock, makes the libpq calls and reports what they did; the machine answers
/// with what to do next (resume a waiter, send a cancel request, stop watching the socket). Generic over the
/// waiter to resume and the result it receives, so that tests drive it without a server.
struct PGConnectionStateMachine<Waiter, Response> {
    enum CancelReason { case task, timeout }

    struct Command {
        var waiter: Waiter
        var generation: UInt64
        var lastResult: Response?
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

        init(waiter: Waiter, generation: UInt64, acceptsCopyIn: Bool = false, prepared: (sql: String, name: String)? = nil) {
            self.waiter = waiter
            self.generation = generation
            self.acceptsCopyIn = acceptsCopyIn
            self.prepared = prepared
        }
    }

    /// A waiter to resume, once the lock is released.
    struct Completion {
        var waiter: Waiter
        var result: Result<Response?, PGError>
    }

    private(set) var commands: [Command] = []
    /// In libpq's pipeline mode: entered for the first pipelined statement, left when the last is answered.
    private(set) var pipelined = false
    /// Cancel requests sent on this connection that no statement has received yet: while there are any, a
    /// statement that did not ask for one may receive it.
    private var cancelsInFlight = 0
    private(set) var broken = false
    private(set) var closed = false
    /// A cancel request may still reach the server after the statement it was meant for: never reuse.
    private(set) var poisoned = false
    /// Pipeline mode: a null result ended a statement's results; a second in a row means nothing more has arrived.
    private var endedStatement = false
    /// Touched under the lock by pipelined statements, and without it by the task leasing the connection
    /// exclusively, which the pool never does while the connection is shared.
    var statements = PGPreparedStatements()

    /// False once the connection broke, was closed, or may receive a stray cancel.
    var isUsable: Bool { !broken && !closed && !poisoned }
    /// Usable and out of pipeline mode, as a connection going back to the pool must be.
    var isReusable: Bool { isUsable && !pipelined }
    var isClosedOrBroken: Bool { closed || broken }
    /// In pipeline mode with nothing waiting: time to leave it.
    var canLeavePipeline: Bool { pipelined && commands.isEmpty }

    mutating func enteredPipeline() { pipelined = true }
    mutating func leftPipeline() { pipelined = false }

    // MARK: Sending

    /// Why no command may be sent now, if so.
    func refusal() -> PGError? {
        guard broken || closed else { return nil }
        return PGError(.connectionClosed, message: "the connection is closed")
    }

    /// How a pipelined statement goes out.
    enum Statement: Equatable {
        /// Under the name it was prepared under.
        case prepared(String)
        /// Prepared first under this name, in the same pipeline.
        case prepare(String)
        /// Unnamed: the cache is full, or the statement's Parse is still in flight.
        case unnamed
    }

    enum PipelinedPlan {
        /// Not sent; nothing of it ran.
        case fail(PGError)
        /// Send it, entering pipeline mode first if `enterPipeline`.
        case send(enterPipeline: Bool, Statement)
    }

    /// Plans a statement joining the pipeline. A name it is to be prepared under is reserved now: report a
    /// failed send with ``sendFailed(message:connectionOK:pipelined:queued:preparing:)``.
    mutating func planPipelined(sql: String, bindings: PGBindings) -> PipelinedPlan {
        guard !poisoned else { return .fail(Self.notRun(PGError(.connectionClosed, message: "the connection is being retired"))) }
        let statement: Statement
        switch statements.lookup(sql, types: bindings.parameters.lazy.map(\.type)) {
        case .prepared(let name): statement = .prepared(name)
        case .preparing: statement = .unnamed  // rather than depend on a Parse that may yet fail
        case .unknown: statement = statements.reserve(sql, types: bindings.types).map { .prepare($0) } ?? .unnamed
        }
        return .send(enterPipeline: !pipelined, statement)
    }

    /// The command was handed to libpq whole (with its sync point in pipeline mode).
    mutating func sent(_ command: Command) {
        commands.append(command)
    }

    enum SendFailure {
        /// The connection lives on: only the sender fails.
        case failSender(PGError)
        /// The connection is gone: stop watching its socket; the sender fails, and so does every command waiting.
        case close(failingSender: PGError, failing: [Completion])
    }

    /// A libpq call sending a command failed, with `message`. `pipelined`: the command was a pipelined statement.
    /// `queued`: part of it may be queued without its sync point. `preparing`: the name it was to be prepared under.
    mutating func sendFailed(
        message: String, connectionOK: Bool, pipelined statement: Bool, queued: Bool, preparing: (sql: String, name: String)?
    ) -> SendFailure {
        // Part of a command queued without its sync point: nothing may follow it on this connection.
        if statement && queued { poisoned = true }
        if let preparing { statements.forget(preparing.sql, name: preparing.name) }
        guard !connectionOK else {
            let error = PGError(.protocolViolation, message: message)
            return .failSender(statement && !queued ? Self.notRun(error) : error)
        }
        let error = PGError(.connectionClosed, message: message)
        // The statements waiting hear no more: libpq may have closed the socket, and no read will tell them.
        let failed = commands.map { Completion(waiter: $0.waiter, result: .failure(error)) }
        commands.removeAll()
        broken = true
        closed = true
        return .close(failingSender: statement && !queued ? Self.notRun(error) : error, failing: failed)
    }

    private static func notRun(_ error: PGError) -> PGError {
        var error = error
        error.didNotRun = true
        return error
    }

    // MARK: Closing

    enum Closing {
        /// Closed already: nothing to do.
        case none
        /// Stop watching the socket, then resume these.
        case stopWatching(failing: [Completion])
    }

    /// The owner closes the connection.
    mutating func close() -> Closing {
        guard !closed else { return .none }
        closed = true
        return .stopWatching(failing: failAll(PGError(.connectionClosed, message: "the connection was closed")))
    }

    /// libpq found the connection gone (a read or flush failed, or its status went bad): every command fails.
    mutating func connectionLost(_ error: PGError) -> Closing {
        broken = true
        guard !closed else { return .none }  // and so nothing waits
        closed = true
        return .stopWatching(failing: failAll(error))
    }

    private mutating func failAll(_ error: PGError) -> [Completion] {
        defer { commands.removeAll() }
        return commands.map { Completion(waiter: $0.waiter, result: .failure(error)) }
    }

    // MARK: Cancelling

    /// The task or timer of `generation` wants its statement stopped. True when the cancel request goes out now;
    /// a pipelined statement behind others is cancelled when it reaches the head, so the request stops no other.
    mutating func cancelRequested(generation: UInt64, reason: CancelReason) -> Bool {
        guard let index = commands.firstIndex(where: { $0.generation == generation }), commands[index].cancelReason == nil else {
            return false
        }
        commands[index].cancelReason = reason
        return index == 0 && headCancelGoesOut()
    }

    /// Records that the head command's cancel request goes out now, if it asked for one.
    private mutating func headCancelGoesOut() -> Bool {
        guard let head = commands.first, head.cancelReason != nil, !head.cancelSent else { return false }
        commands[0].cancelSent = true
        cancelsInFlight += 1
        return true
    }

    // MARK: Reading

    enum ResultKind {
        case copyIn
        /// COPY TO STDOUT or COPY BOTH, which the connection does not support.
        case otherCopy
        /// Pipeline mode: a statement skipped after an earlier failure in the same command.
        case pipelineAborted
        case other
    }

    enum Read {
        /// Read the next result.
        case next
        /// Nothing more has arrived: wait for input.
        case wait
        /// Resume `completion` and read on; `cancelHead`: send the cancel request of the new head command.
        case complete(Completion, cancelHead: Bool)
        /// Resume `completion` and wait: the server waits for COPY data.
        case completeAndWait(Completion)
        /// The connection cannot go on: resume these and wait.
        case failAll([Completion])
    }

    /// libpq handed over a result (not a sync point); `error` is the server's, for a result of kind `other`.
    mutating func resultReceived(_ response: Response, kind: ResultKind, error: PGError?) -> Read {
        endedStatement = false
        guard let head = commands.first else { return .next }
        switch kind {
        case .copyIn where head.acceptsCopyIn && head.firstError == nil:
            // The server waits for the data now; libpq would hand this result out again and again.
            commands.removeFirst()
            if head.cancelSent { poisoned = true }
            return .completeAndWait(Completion(waiter: head.waiter, result: .success(response)))
        case .copyIn, .otherCopy:
            broken = true
            return .failAll(failAll(PGError(.protocolViolation, message: "COPY is supported only as copyIn (FROM STDIN)")))
        case .pipelineAborted:
            // Only after an earlier failure in the same command, whose error is already kept.
            if head.firstError == nil {
                commands[0].firstError = PGError(.protocolViolation, message: "the server skipped a statement of the pipeline")
            }
            return .next
        case .other:
            if let prepared = head.prepared, !head.preparationAnswered {
                commands[0].preparationAnswered = true
                commands[0].preparationFailed = error != nil
                if error == nil { statements.accept(prepared.sql, name: prepared.name) }
            }
            if let error {
                if head.firstError == nil { commands[0].firstError = error }
            } else {
                commands[0].lastResult = response
            }
            return .next
        }
    }

    /// libpq has no result ready (`PQgetResult` gave null): outside pipeline mode the command is answered; in
    /// it, one statement's results ended (its command ends at its sync point), or, a second time, nothing more came.
    mutating func resultsEnded(connectionOK: Bool) -> Read {
        guard pipelined else {
            guard let completion = finishHead(connectionOK: connectionOK) else { return .wait }
            return .completeAndWait(completion)
        }
        if endedStatement || commands.isEmpty { return .wait }
        endedStatement = true
        return .next
    }

    /// A pipeline sync point arrived: the head command is answered.
    mutating func syncReceived(connectionOK: Bool) -> Read {
        endedStatement = false
        guard let completion = finishHead(connectionOK: connectionOK) else { return .next }
        return .complete(completion, cancelHead: headCancelGoesOut())
    }

    /// Removes the head command, all of whose results have arrived, and returns its completion.
    private mutating func finishHead(connectionOK: Bool) -> Completion? {
        guard !commands.isEmpty else { return nil }
        let finished = commands.removeFirst()
        let cancelled = finished.firstError?.sqlState == "57014"
        if finished.cancelSent {
            // Received by its statement, or still on its way to whichever statement runs when it arrives.
            if cancelled { cancelsInFlight = max(0, cancelsInFlight - 1) } else { poisoned = true }
        }
        if !connectionOK { broken = true }
        guard var error = finished.firstError else {
            return Completion(waiter: finished.waiter, result: .success(finished.lastResult))
        }
        // A statement the server did not prepare is prepared again next time; one that failed only when it ran stays.
        if let prepared = finished.prepared, finished.preparationFailed || !finished.preparationAnswered {
            statements.forget(prepared.sql, name: prepared.name)
        }
        if cancelled {
            if pipelined && !finished.cancelSent && finished.cancelReason == nil && cancelsInFlight > 0 {
                // A cancel meant for the statement before it arrived late. The statement's transaction was rolled back.
                cancelsInFlight -= 1
                error.code = .connectionClosed
                error.message = "the statement was stopped by a cancel request meant for another statement on its connection"
                error.didNotRun = true
            } else {
                error.code = finished.cancelReason == .task ? .cancelled : .statementTimeout
            }
        }
        return Completion(waiter: finished.waiter, result: .failure(error))
    }
}

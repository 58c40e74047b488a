import Testing

@testable import PGClient

/// The connection's protocol state on its own, driven the way the I/O glue drives it, without a server.
struct ConnectionStateMachineTests {
    typealias Machine = PGConnectionStateMachine<Int, String>

    /// Sends a pipelined statement for waiter `id` the way the glue does, returning how it went out.
    @discardableResult
    private func send(_ machine: inout Machine, _ id: Int, sql: String = "SELECT 1") throws -> Machine.Statement {
        guard case .send(let enterPipeline, let statement) = machine.planPipelined(sql: sql, bindings: PGBindings()) else {
            Issue.record("statement \(id) was refused")
            throw PGError(.protocolViolation, message: "refused")
        }
        if enterPipeline { machine.enteredPipeline() }
        var prepared: (sql: String, name: String)?
        if case .prepare(let name) = statement { prepared = (sql, name) }
        machine.sent(Machine.Command(waiter: id, generation: UInt64(id), prepared: prepared))
        return statement
    }

    /// The results of one successful pipelined statement, up to its sync point.
    private func answer(_ machine: inout Machine, rows: String, preparing: Bool = false) -> Machine.Read {
        if preparing {
            expectNext(machine.resultReceived("", kind: .other, error: nil))
            expectNext(machine.resultsEnded(connectionOK: true))
        }
        expectNext(machine.resultReceived(rows, kind: .other, error: nil))
        expectNext(machine.resultsEnded(connectionOK: true))
        return machine.syncReceived(connectionOK: true)
    }

    private func expectNext(_ read: Machine.Read, sourceLocation: SourceLocation = #_sourceLocation) {
        guard case .next = read else {
            Issue.record("expected to read on, got \(read)", sourceLocation: sourceLocation)
            return
        }
    }

    private func completion(_ read: Machine.Read) -> (waiter: Int, result: Result<String?, PGError>, cancelHead: Bool)? {
        switch read {
        case .complete(let completion, let cancelHead): (completion.waiter, completion.result, cancelHead)
        case .completeAndWait(let completion): (completion.waiter, completion.result, false)
        default: nil
        }
    }

    private func serverError(_ sqlState: String) -> PGError {
        PGError(.server, message: "server error", sqlState: sqlState)
    }

    @Test func pipelinedStatementsAreAnsweredInOrderAndThePipelineIsLeftAfterTheLast() throws {
        var machine = Machine()
        let statement1 = try send(&machine, 1)
        #expect(statement1 == .prepare("s1"))
        // The first statement's Parse is unanswered: the second runs unnamed rather than depend on it.
        let statement2 = try send(&machine, 2)
        #expect(statement2 == .unnamed)
        #expect(machine.pipelined && machine.commands.count == 2)

        let first = try #require(completion(answer(&machine, rows: "one", preparing: true)))
        #expect(first.waiter == 1 && (try? first.result.get()) == "one")
        #expect(!machine.canLeavePipeline)
        let second = try #require(completion(answer(&machine, rows: "two")))
        #expect(second.waiter == 2 && (try? second.result.get()) == "two")
        #expect(machine.canLeavePipeline)
        machine.leftPipeline()
        #expect(machine.isReusable)
        // Accepted now: the next statement uses the name.
        let statement3 = try send(&machine, 3)
        #expect(statement3 == .prepared("s1"))
    }

    @Test func aFailedParseIsForgottenAndNoOneElseUsedIt() throws {
        var machine = Machine()
        let statement1 = try send(&machine, 1, sql: "SELECT * FROM later")
        #expect(statement1 == .prepare("s1"))
        let statement2 = try send(&machine, 2, sql: "SELECT * FROM later")
        #expect(statement2 == .unnamed)
        expectNext(machine.resultReceived("", kind: .other, error: serverError("42P01")))
        expectNext(machine.resultsEnded(connectionOK: true))
        expectNext(machine.resultReceived("", kind: .pipelineAborted, error: nil))
        let first = try #require(completion(machine.syncReceived(connectionOK: true)))
        #expect(throws: PGError.self) { try first.result.get() }
        let second = try #require(completion(answer(&machine, rows: "0")))
        #expect((try? second.result.get()) == "0")
        let statement3 = try send(&machine, 3, sql: "SELECT * FROM later")
        #expect(statement3 == .prepare("s2"))
    }

    @Test func aQueuedStatementIsCancelledWhenItReachesTheHead() throws {
        var machine = Machine()
        try send(&machine, 1)
        try send(&machine, 2)
        // Behind another: the request would stop the one running, so it waits for its turn.
        let now = machine.cancelRequested(generation: 2, reason: .task)
        let again = machine.cancelRequested(generation: 2, reason: .task)  // asked once only
        #expect(!now && !again)
        let first = try #require(completion(answer(&machine, rows: "one", preparing: true)))
        #expect(first.waiter == 1 && first.cancelHead)
        // The cancel stops it on the server.
        expectNext(machine.resultReceived("", kind: .other, error: serverError("57014")))
        let second = try #require(completion(machine.syncReceived(connectionOK: true)))
        #expect(throws: PGError.self) { try second.result.get() }
        if case .failure(let error) = second.result { #expect(error.code == .cancelled) }
        #expect(machine.isUsable)
    }

    @Test func aCancelThatArrivesLateStopsTheNextStatementWhichDidNotRun() throws {
        var machine = Machine()
        try send(&machine, 1)
        try send(&machine, 2)
        let now = machine.cancelRequested(generation: 1, reason: .timeout)
        #expect(now)
        // The first statement finished before the cancel reached the server …
        let first = try #require(completion(answer(&machine, rows: "one", preparing: true)))
        #expect((try? first.result.get()) == "one")
        #expect(!machine.isUsable)  // a cancel may still arrive: the connection is never reused
        // … which then stopped the second one.
        expectNext(machine.resultReceived("", kind: .other, error: serverError("57014")))
        let second = try #require(completion(machine.syncReceived(connectionOK: true)))
        guard case .failure(let error) = second.result else {
            Issue.record("the second statement succeeded")
            return
        }
        #expect(error.code == .connectionClosed && error.didNotRun)
        guard case .fail(let refusal) = machine.planPipelined(sql: "SELECT 1", bindings: PGBindings()) else {
            Issue.record("a retired connection took a statement")
            return
        }
        #expect(refusal.didNotRun)
    }

    @Test func aSendThatFindsTheConnectionGoneFailsEveryWaiter() throws {
        var machine = Machine()
        try send(&machine, 1)
        try send(&machine, 2)
        guard case .send(_, let statement) = machine.planPipelined(sql: "SELECT 2", bindings: PGBindings()) else {
            Issue.record("statement 3 was refused")
            return
        }
        #expect(statement == .prepare("s2"))
        let failure = machine.sendFailed(
            message: "server closed the connection unexpectedly", connectionOK: false, pipelined: true, queued: true,
            preparing: ("SELECT 2", "s2"))
        guard case .close(let error, let failed) = failure else {
            Issue.record("the connection stayed open")
            return
        }
        #expect(error.code == .connectionClosed && !error.didNotRun)
        #expect(failed.map(\.waiter) == [1, 2])
        #expect(failed.allSatisfy { (try? $0.result.get()) == nil })
        #expect(machine.commands.isEmpty && machine.closed && machine.broken)
        #expect(machine.refusal()?.code == .connectionClosed)
        guard case .none = machine.close() else {
            Issue.record("closing again stopped watching the socket again")
            return
        }
    }

    @Test func aSendThatFailsOnALiveConnectionFailsOnlyTheSender() throws {
        var machine = Machine()
        try send(&machine, 1)
        guard
            case .failSender(let error) = machine.sendFailed(
                message: "out of memory", connectionOK: true, pipelined: true, queued: false, preparing: nil)
        else {
            Issue.record("the connection was closed")
            return
        }
        #expect(error.didNotRun)
        #expect(machine.commands.count == 1 && machine.isUsable)
    }

    @Test func closingFailsTheWaitingCommandOnce() throws {
        var machine = Machine()
        machine.sent(Machine.Command(waiter: 7, generation: 7))
        guard case .stopWatching(let failed) = machine.close() else {
            Issue.record("close did nothing")
            return
        }
        #expect(failed.map(\.waiter) == [7])
        guard case .none = machine.connectionLost(PGError(.connectionClosed, message: "gone")) else {
            Issue.record("a closed connection stopped watching its socket again")
            return
        }
    }

    @Test func aCopyInStartEndsTheWaitAndOtherCopiesBreakTheConnection() throws {
        var machine = Machine()
        machine.sent(Machine.Command(waiter: 1, generation: 1, acceptsCopyIn: true))
        let started = try #require(completion(machine.resultReceived("copy", kind: .copyIn, error: nil)))
        #expect((try? started.result.get()) == "copy")
        machine.sent(Machine.Command(waiter: 2, generation: 2))
        guard case .failAll(let failed) = machine.resultReceived("copy", kind: .otherCopy, error: nil) else {
            Issue.record("COPY TO STDOUT was accepted")
            return
        }
        #expect(failed.map(\.waiter) == [2])
        #expect(machine.broken)
    }

    @Test func outsidePipelineModeTheEndOfResultsAnswersTheCommand() throws {
        var machine = Machine()
        machine.sent(Machine.Command(waiter: 1, generation: 1))
        expectNext(machine.resultReceived("rows", kind: .other, error: nil))
        let done = try #require(completion(machine.resultsEnded(connectionOK: true)))
        #expect(done.waiter == 1 && (try? done.result.get()) == "rows")
        guard case .wait = machine.resultsEnded(connectionOK: true) else {
            Issue.record("an answer with nothing waiting")
            return
        }
    }
}

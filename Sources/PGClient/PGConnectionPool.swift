public import FailureLogging
public import Logging
import NIOConcurrencyHelpers
public import ServiceLifecycle
import Timekeeping

/// A pool of connections, run as a `Service`: it opens up to `maxConnections`, hands them out one task at a
/// time, drops broken ones, and in `run()` keeps the minimum open and closes idle ones.
///
/// Its timing rules run by ``PGPoolConfiguration/time``; only the wait for leased connections at shutdown, a
/// bound on real I/O, keeps to the system's clock.
public final class PGConnectionPool: Service, Sendable {
    public let configuration: PGPoolConfiguration
    private let connection: PGConnectionConfiguration
    private let logger: Logger
    private let time: any TimeSource
    private let state = NIOLockedValueBox(State())

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<PGConnection, any Error>
        /// When it gives up. Waiters queue in arrival order with one timeout, so deadlines only grow.
        var deadline: ContinuousClock.Instant
    }

    private struct State {
        var idle: [PGConnection] = []
        /// Open connections plus those being opened.
        var total = 0
        var leased = 0
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        /// Whether the task that fails waiters past their deadline runs (only while someone waits).
        var sweeping = false
        var isClosed = false
        /// Connections that single statements share in pipeline mode, each with how many statements it carries.
        /// They count as leased; the last statement to finish on one returns it.
        var shared: [(connection: PGConnection, statements: Int)] = []
    }

    /// A snapshot of the pool's counters, for metrics.
    public struct Statistics: Sendable, Equatable {
        public var open: Int
        public var idle: Int
        public var inUse: Int
        public var waiting: Int
        /// Connections in use shared by single statements (pipeline mode), counted in `inUse` too.
        public var shared: Int
        /// Statements in flight on those shared connections.
        public var pipelined: Int

        public init(open: Int, idle: Int, inUse: Int, waiting: Int, shared: Int = 0, pipelined: Int = 0) {
            self.open = open
            self.idle = idle
            self.inUse = inUse
            self.waiting = waiting
            self.shared = shared
            self.pipelined = pipelined
        }
    }

    /// Where failed connection attempts are summarised while the server is away.
    public let failures: FailureLog

    public init(configuration: PGPoolConfiguration, logger: Logger = Logger(label: "pg"), failures: FailureLog? = nil) {
        precondition(configuration.maxConnections >= 1 && configuration.minConnections <= configuration.maxConnections)
        self.configuration = configuration
        self.connection = configuration.effectiveConnection
        self.logger = logger
        self.time = configuration.time
        self.failures = failures ?? FailureLog(logger: logger)
    }

    static let connectionFailures = FailureLog.Kind(
        condition: "database connections failing", counted: "connection attempts failed", level: .warning)

    /// The executors that read this pool's connections (one per I/O thread). A database-bound task that prefers
    /// one (`withTaskExecutorPreference(pool.executors[i % pool.executors.count]) { … }`) runs on that thread and
    /// is handed connections that thread reads, so a query costs no thread hop; such tasks must not block.
    public var executors: [any TaskExecutor] { PGIOLoop.all }

    public var statistics: Statistics {
        state.withLockedValue { state in
            Statistics(
                open: state.total, idle: state.idle.count, inUse: state.leased, waiting: state.waiters.count, shared: state.shared.count,
                pipelined: state.shared.reduce(0) { $0 + $1.statements })
        }
    }

    // MARK: Leasing

    /// Runs `body` with a connection of its own, returned to the pool afterwards.
    public func withConnection<R>(_ body: (PGConnection) async throws -> R) async throws -> R {
        let connection = try await lease()
        do {
            let result = try await body(connection)
            release(connection)
            return result
        } catch {
            release(connection)
            throw error
        }
    }

    /// Runs one statement on a pooled connection. With ``PGPoolConfiguration/pipelineDepth`` above 1 the
    /// statement may share a connection with other tasks' single statements (each in its own transaction).
    public func query(_ query: PGQuery, timeout: Duration? = nil) async throws -> PGRows {
        if configuration.pipelineDepth > 1, let shared = joinShared() {
            do {
                let rows = try await shared.pipelinedQuery(query, timeout: timeout)
                leaveShared(shared)
                return rows
            } catch let error as PGError where error.didNotRun {
                leaveShared(shared)  // nothing of it took effect: run it on a connection of its own
            } catch {
                leaveShared(shared)
                throw error
            }
        }
        let connection = try await lease()
        do {
            let rows = try await connection.query(query, timeout: timeout)
            release(connection)
            return rows
        } catch {
            release(connection)
            throw error
        }
    }

    /// Appends `rows` with a `COPY … FROM STDIN (FORMAT binary)` on a pooled connection (see
    /// ``PGConnection/copyIn(unsafeSQL:rows:timeout:)``).
    public func copyIn(unsafeSQL sql: String, rows: PGCopyRows, timeout: Duration? = nil) async throws -> Int {
        try await withConnection { connection in try await connection.copyIn(unsafeSQL: sql, rows: rows, timeout: timeout) }
    }

    /// Runs `body` in a transaction on a pooled connection: COMMIT when it returns, ROLLBACK when it throws
    /// or the task is cancelled.
    public func withTransaction<R>(_ body: (PGConnection) async throws -> R) async throws -> R {
        try await withConnection { connection in try await connection.withTransaction(body) }
    }

    /// A connection for one more pipelined statement, preferring (1) one that already carries statements and
    /// is read by the caller's I/O thread, (2) an idle one read by that thread, (3) any carrying statements,
    /// (4) any idle one. Nil when each is full or unusable and none is idle: the caller leases one of its own.
    private func joinShared() -> PGConnection? {
        let depth = configuration.pipelineDepth
        let loop = PGIOLoop.current
        let now = time.instant
        return state.withLockedValue { state -> PGConnection? in
            guard !state.isClosed else { return nil }
            func sharedIndex(onLoop: Bool) -> Int? {
                state.shared.indices.first { index in
                    let (connection, statements) = state.shared[index]
                    return statements < depth && (!onLoop || connection.loop === loop) && connection.isUsable
                }
            }
            func idleIndex(onLoop: Bool) -> Int? {
                state.idle.indices.last { index in
                    let connection = state.idle[index]
                    return (!onLoop || connection.loop === loop) && connection.isUsable
                        && connection.lastUsed.duration(to: now) <= configuration.healthCheckInterval
                }
            }
            if loop != nil, let index = sharedIndex(onLoop: true) {
                state.shared[index].statements += 1
                return state.shared[index].connection
            }
            let idleOnLoop = loop == nil ? nil : idleIndex(onLoop: true)
            if idleOnLoop == nil, let index = sharedIndex(onLoop: false) {
                state.shared[index].statements += 1
                return state.shared[index].connection
            }
            guard let index = idleOnLoop ?? idleIndex(onLoop: false) else { return nil }
            let connection = state.idle.remove(at: index)
            state.leased += 1
            state.shared.append((connection, 1))
            return connection
        }
    }

    /// Ends one pipelined statement's use of `connection`; the last one returns the connection to the pool.
    private func leaveShared(_ connection: PGConnection) {
        let drained = state.withLockedValue { state -> Bool in
            guard let index = state.shared.firstIndex(where: { $0.connection === connection }) else { return false }
            state.shared[index].statements -= 1
            guard state.shared[index].statements == 0 else { return false }
            state.shared.remove(at: index)
            return true
        }
        if drained { release(connection) }
    }

    private enum Decision {
        case use(PGConnection)
        case connect
        case wait
        case fail(PGError)
    }

    /// Takes an idle usable connection or a slot to open one. Lock held.
    private static func decide(_ state: inout State, max: Int, discarded: inout [PGConnection]) -> Decision {
        if state.isClosed { return .fail(PGError(.poolClosed, message: "the connection pool is shut down")) }
        // Prefer a connection read by the caller's own I/O thread: its answers then need no thread hop.
        if let loop = PGIOLoop.current, let index = state.idle.lastIndex(where: { $0.loop === loop }), state.idle[index].isUsable {
            state.leased += 1
            return .use(state.idle.remove(at: index))
        }
        while let candidate = state.idle.popLast() {
            if candidate.isUsable {
                state.leased += 1
                return .use(candidate)
            }
            state.total -= 1
            discarded.append(candidate)
        }
        if state.total < max {
            state.total += 1
            state.leased += 1
            return .connect
        }
        return .wait
    }

    private func lease() async throws -> PGConnection {
        var discarded: [PGConnection] = []
        let decision = state.withLockedValue { Self.decide(&$0, max: configuration.maxConnections, discarded: &discarded) }
        discarded.forEach { $0.close() }
        switch decision {
        case .use(let connection): return try await checkedIfStale(connection)
        case .connect: return try await openForLease()
        case .fail(let error): throw error
        case .wait: return try await waitForConnection()
        }
    }

    /// A connection idle for longer than the health-check interval answers `SELECT 1` before it is used.
    private func checkedIfStale(_ connection: PGConnection) async throws -> PGConnection {
        guard connection.lastUsed.duration(to: time.instant) > configuration.healthCheckInterval else { return connection }
        do {
            try await connection.execute(unsafeSQL: "SELECT 1")
            return connection
        } catch {
            release(connection)
            return try await lease()
        }
    }

    private func openForLease() async throws -> PGConnection {
        do {
            let opened = try await PGConnection.connect(connection)
            failures.clear(Self.connectionFailures)
            return opened
        } catch {
            let (waiters, failed) = state.withLockedValue { state -> ([Waiter], Bool) in
                state.total -= 1
                state.leased -= 1
                // Nothing open could come back to the waiters: let them hear the real problem now.
                guard state.total == 0 else { return ([], false) }
                defer { state.waiters = [] }
                return (state.waiters, true)
            }
            if failed { waiters.forEach { $0.continuation.resume(throwing: error) } }
            failures.record(Self.connectionFailures, "database connection failed", metadata: ["error": "\(error)"])
            throw error
        }
    }

    private func waitForConnection() async throws -> PGConnection {
        let id = state.withLockedValue { state in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
        let deadline = time.instant + configuration.acquireTimeout
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                var discarded: [PGConnection] = []
                var startSweeper = false
                let decision = state.withLockedValue { state in
                    let decision = Self.decide(&state, max: configuration.maxConnections, discarded: &discarded)
                    if case .wait = decision {
                        state.waiters.append(Waiter(id: id, continuation: continuation, deadline: deadline))
                        if !state.sweeping {
                            state.sweeping = true
                            startSweeper = true
                        }
                    }
                    return decision
                }
                discarded.forEach { $0.close() }
                if startSweeper { Task { await self.failWaitersPastTheirDeadline() } }
                switch decision {
                case .use(let connection): continuation.resume(returning: connection)
                case .fail(let error): continuation.resume(throwing: error)
                case .wait: break
                case .connect:
                    Task { [self] in
                        do { continuation.resume(returning: try await openForLease()) } catch { continuation.resume(throwing: error) }
                    }
                }
            }
        } onCancel: {
            failWaiter(id, PGError(.cancelled, message: "the task was cancelled while waiting for a connection"))
        }
    }

    /// One task for all waiters, rather than a timer each: it sleeps until the oldest waiter's deadline, fails
    /// those past theirs, and ends when nobody waits.
    private func failWaitersPastTheirDeadline() async {
        while true {
            let next = state.withLockedValue { state -> ContinuousClock.Instant? in
                guard let first = state.waiters.first else {
                    state.sweeping = false
                    return nil
                }
                return first.deadline
            }
            guard let next else { return }
            try? await time.sleep(until: next)
            let expired = state.withLockedValue { state -> [Waiter] in
                let now = time.instant
                let count = state.waiters.prefix(while: { $0.deadline <= now }).count
                defer { state.waiters.removeFirst(count) }
                return Array(state.waiters.prefix(count))
            }
            let timeout = configuration.acquireTimeout
            for waiter in expired {
                waiter.continuation.resume(throwing: PGError(.poolExhausted, message: "no database connection became free within \(timeout)"))
            }
        }
    }

    private func failWaiter(_ id: UInt64, _ error: PGError) {
        let waiter = state.withLockedValue { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.continuation.resume(throwing: error)
    }

    /// Returns a leased connection: to a waiter, to the idle list, or closed if it is broken or mid-transaction.
    private func release(_ connection: PGConnection) {
        let reusable = connection.isReusable
        connection.lastUsed = time.instant
        enum Next {
            case none
            case hand(Waiter)
            case close
            case closeAndOpen(Waiter)
        }
        let next = state.withLockedValue { state -> Next in
            state.leased -= 1
            if !reusable || state.isClosed {
                state.total -= 1
                guard !state.isClosed, !state.waiters.isEmpty else { return .close }
                state.total += 1
                state.leased += 1
                return .closeAndOpen(state.waiters.removeFirst())
            }
            if !state.waiters.isEmpty {
                state.leased += 1
                return .hand(state.waiters.removeFirst())
            }
            state.idle.append(connection)
            return .none
        }
        switch next {
        case .none: break
        case .hand(let waiter): waiter.continuation.resume(returning: connection)
        case .close: connection.close()
        case .closeAndOpen(let waiter):
            connection.close()
            Task { [self] in
                do { waiter.continuation.resume(returning: try await openForLease()) } catch { waiter.continuation.resume(throwing: error) }
            }
        }
    }

    // MARK: Service

    /// Keeps the minimum open and closes idle connections until graceful shutdown, then closes the pool.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.maintain()
                try? await self.time.sleep(for: self.configuration.maintenanceInterval)
            }
        }
        await shutdown()
    }

    /// One maintenance pass: close connections idle past the timeout, open up to the minimum.
    func maintain() async {
        let now = time.instant
        let (expired, missing) = state.withLockedValue { state -> ([PGConnection], Int) in
            guard !state.isClosed else { return ([], 0) }
            var expired: [PGConnection] = []
            state.idle.removeAll { connection in
                let stale =
                    !connection.isUsable
                    || (state.total - expired.count > configuration.minConnections
                        && connection.lastUsed.duration(to: now) > configuration.idleTimeout)
                if stale { expired.append(connection) }
                return stale
            }
            state.total -= expired.count
            let missing = max(0, configuration.minConnections - state.total)
            state.total += missing
            return (expired, missing)
        }
        expired.forEach { $0.close() }
        for _ in 0..<missing {
            do {
                let connection = try await PGConnection.connect(connection)
                failures.clear(Self.connectionFailures)
                state.withLockedValue { $0.leased += 1 }
                release(connection)
            } catch {
                state.withLockedValue { $0.total -= 1 }
                failures.record(Self.connectionFailures, "database connection failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Refuses new leases, fails waiters, closes idle connections, and waits (up to 10 s) for leased ones.
    public func shutdown() async {
        let (idle, waiters) = state.withLockedValue { state -> ([PGConnection], [Waiter]) in
            state.isClosed = true
            defer {
                state.total -= state.idle.count
                state.idle = []
                state.waiters = []
            }
            return (state.idle, state.waiters)
        }
        idle.forEach { $0.close() }
        waiters.forEach { $0.continuation.resume(throwing: PGError(.poolClosed, message: "the connection pool is shut down")) }
        // The system's clock, not `time`: this bounds how long real statements take to finish, and a test's
        // manual time, which nobody advances during shutdown, would make it wait for ever.
        let deadline = ContinuousClock.now + .seconds(10)
        while state.withLockedValue({ $0.leased > 0 }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

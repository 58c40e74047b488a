import CEventPoll
import Foundation
import Glibc
import NIOConcurrencyHelpers
import Synchronization

/// Something with a socket that the I/O loop watches.
protocol PGIOSource: AnyObject, Sendable {
    /// Called on the loop's thread when the socket is readable, writable, or closed.
    func ioReady(readable: Bool, writable: Bool)
}

/// One thread that waits on every connection's socket with epoll and hands readiness to the connection.
///
/// Sockets stay registered for reading (level-triggered) for their whole life, so the hot path needs no
/// `epoll_ctl` call: a query is sent from the caller's thread and its answer is read here. Write interest is
/// added only while libpq has unsent data.
///
/// The loop is also a `TaskExecutor`. A task that prefers it (`withTaskExecutorPreference(pool.executors[i])`)
/// runs on this thread: its query is sent, its answer read and its code resumed without waking another
/// thread, the way pgbench multiplexes connections on one thread. Such tasks must not block.
public final class PGIOLoop: TaskExecutor, @unchecked Sendable {
    // Sendable: `sources`, `nextToken` and `jobs` are guarded by `lock`; `thread` is written once before use.

    /// The loops connections are spread over: ``defaultThreadCount``, or as many as ``useThreads(_:)`` asked for
    /// before the first connection opened.
    public static let all: [PGIOLoop] = {
        let wanted = requestedThreads.load(ordering: .acquiring)
        let prefix = threadNamePrefix.withLock { $0 }
        return (0..<min(max(wanted, threadCounts.lowerBound), threadCounts.upperBound)).map { PGIOLoop(name: "\(prefix)\($0)") }
    }()

    /// Two, like pgbench's two threads on this class of machine.
    public static let defaultThreadCount = 2
    /// How many loops there may be; a count outside is taken as its nearest bound.
    public static let threadCounts = 1...16

    private static let requestedThreads = Atomic<Int>(defaultThreadCount)
    private static let threadNamePrefix = Mutex("pgio")

    /// Sets how many loops (threads) read the connections, and what their threads are called (`top -H`, `ps -T`:
    /// the prefix and the loop's number, 15 bytes at most). Only a call before the first connection opens counts:
    /// the loops are made then, once.
    public static func useThreads(_ count: Int, namePrefix: String = "pgio") {
        requestedThreads.store(count, ordering: .releasing)
        threadNamePrefix.withLock { $0 = namePrefix }
    }

    /// The loop whose thread is running this code, if any.
    static var current: PGIOLoop? {
        let me = pthread_self()
        return all.first { pthread_equal($0.thread, me) != 0 }
    }

    private static let roundRobin = NIOLockedValueBox(0)

    /// The loop for a new connection: the caller's own when it runs on one, else the next in turn.
    static func forNewConnection() -> PGIOLoop {
        if let current { return current }
        return all[
            roundRobin.withLockedValue { counter in
                defer { counter = (counter + 1) % all.count }
                return counter
            }]
    }

    private let epollFD: Int32
    private let wakeFD: Int32
    private let lock = NIOLock()
    // The properties read on every job and every readiness event skip Swift's dynamic exclusivity checks
    // (`@exclusivity(unchecked)`), which cost several percent of a query; each says why no two accesses overlap.
    /// Safe unchecked: read and written only under `lock`.
    @exclusivity(unchecked) private var sources: [UInt64: any PGIOSource] = [:]
    private var nextToken: UInt64 = 1
    /// Safe unchecked: read and written only under `lock`.
    @exclusivity(unchecked) private var jobs: [UnownedJob] = []
    /// Safe unchecked: read and written only under `lock`.
    @exclusivity(unchecked) private var sleeping = false
    /// Safe unchecked: written once, by the loop's own thread before `init` returns; only read afterwards.
    @exclusivity(unchecked) private var thread = pthread_t()
    private static let wakeToken: UInt64 = 0

    private init(name: String) {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        precondition(epollFD >= 0 && wakeFD >= 0, "could not create the PostgreSQL I/O loop (errno \(pgio_errno()))")
        _ = pgio_epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, EPOLLIN.rawValue, Self.wakeToken)
        let started = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            self.thread = pthread_self()
            // What `top -H` and `ps -T` show (at most 15 bytes); Foundation's name alone does not reach the
            // kernel, and the thread would otherwise carry its creator's name.
            _ = pgio_name_this_thread(name)
            started.signal()
            run()
        }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
        started.wait()
    }

    private static let readFlags = EPOLLIN.rawValue | EPOLLRDHUP.rawValue

    /// Starts watching `fd` for `source`; returns the token to change or end the registration.
    /// The loop keeps `source` alive until ``deregister(fd:token:)``.
    func register(fd: Int32, source: some PGIOSource) throws -> UInt64 {
        let token = lock.withLock {
            defer { nextToken += 1 }
            sources[nextToken] = source
            return nextToken
        }
        if pgio_epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, Self.readFlags, token) != 0 {
            let error = pgio_errno()
            _ = lock.withLock { sources.removeValue(forKey: token) }
            throw PGError(.connectionFailed, message: "could not watch the connection's socket (errno \(error))")
        }
        return token
    }

    /// Adds or removes interest in writability while libpq has unsent data.
    func setWriteInterest(fd: Int32, token: UInt64, _ enabled: Bool) {
        let flags = enabled ? Self.readFlags | EPOLLOUT.rawValue : Self.readFlags
        _ = pgio_epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, flags, token)
    }

    /// Stops watching; events already collected for `token` are dropped. `fd` is nil when the descriptor was
    /// closed already (which ended its watch), so that a number reused since is not touched.
    func deregister(fd: Int32?, token: UInt64) {
        if let fd { _ = pgio_epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, 0, 0) }
        let source = lock.withLock { sources.removeValue(forKey: token) }
        _ = source  // released outside the lock: its deinit may deregister again
    }

    // MARK: TaskExecutor

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let wake = lock.withLock {
            jobs.append(job)
            defer { sleeping = false }
            return sleeping
        }
        if wake && pthread_equal(pthread_self(), thread) == 0 {
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    // MARK: The loop

    private func run() {
        let capacity = 64
        let flags = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
        let tokens = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
        let readable = EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue | EPOLLRDHUP.rawValue
        var ready: [UnownedJob] = []
        var batch = [(any PGIOSource)?](repeating: nil, count: capacity)
        var drained: UInt64 = 0
        while true {
            // Sleep only when no job is waiting; `sleeping` tells enqueuers on other threads to wake us.
            let timeout: Int32 = lock.withLock {
                if jobs.isEmpty {
                    sleeping = true
                    return -1
                }
                return 0
            }
            let count = pgio_epoll_wait(epollFD, flags, tokens, Int32(capacity), timeout)
            if count < 0 && pgio_errno() != EINTR {
                fatalError("epoll_wait failed (errno \(pgio_errno()))")
            }
            // One lock for the whole batch: wake-up state and every event's source.
            let events = max(0, Int(count))
            lock.withLock {
                sleeping = false
                for i in 0..<events { batch[i] = tokens[i] == Self.wakeToken ? nil : sources[tokens[i]] }
            }
            for i in 0..<events {
                guard let source = batch[i] else {
                    if tokens[i] == Self.wakeToken { _ = read(wakeFD, &drained, 8) }
                    continue
                }
                batch[i] = nil
                source.ioReady(readable: flags[i] & readable != 0, writable: flags[i] & EPOLLOUT.rawValue != 0)
            }
            lock.withLock { swap(&ready, &jobs) }
            for job in ready { job.runSynchronously(on: asUnownedTaskExecutor()) }
            ready.removeAll(keepingCapacity: true)
        }
    }
}

import FailureLogging
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import PGClient
import ServiceLifecycle
import Synchronization
import UnixSignals

/// What the daemon needs besides its runtime: where it listens, how it stops, what it tells the service manager.
struct DaemonOptions: Sendable {
    var listen: ListenAddress
    var adminListen: ListenAddress
    var limits = ListenerLimits()
    /// Whether the daemon runs (and in the end closes) the pool. `serve` owns its pool; a test that shares one
    /// with its fixtures keeps it.
    var runsPool = true
    /// For ``SystemdNotifier`` (`NOTIFY_SOCKET`, `WATCHDOG_USEC`).
    var environment: [String: String] = [:]
    /// The signals that start a graceful shutdown (`serve`: SIGTERM and SIGINT); SIGHUP reloads when set.
    var gracefulShutdownSignals: [UnixSignal] = []
    var reloadsOnHangup = false
    /// The longest a graceful shutdown may take before the services still running are cancelled: beyond the
    /// longest drain (``FastPathReads/drainLimit``) and the audit's last flush, short of systemd's stop timeout.
    var maximumShutdown: Duration = .seconds(45)
    /// Called once the API listener accepts connections.
    var onAPIRunning: @Sendable () async -> Void = {}
}

/// A built daemon: the runtime its routes use and the service group that runs it.
struct Daemon: Sendable {
    let runtime: ResolverRuntime
    let group: ServiceGroup
    /// The ports the listeners bound (the ones chosen when the options said 0).
    let ports: ListeningPorts
}

/// The daemon as `serve` runs it and the tests drive it: the pool, the audit writer, the cache's invalidator,
/// the refresh scheduler, the admin listener and the API listener (with the fast path, the listener limits and
/// the database-affine channel), the service manager's notifier, the SIGHUP reloader and the failure summaries.
///
/// Services stop in the reverse of their order here: first the API listener (no new requests), then the fast
/// path's reads in flight, the admin listener, the scheduler, the invalidator, the audit writer (its last flush
/// after every request that records an event), and the pool last.
func buildDaemon(runtime: ResolverRuntime, options: DaemonOptions) -> Daemon {
    let logger = runtime.logger
    let ports = ListeningPorts()
    let pool = runtime.pool
    let notifier = SystemdNotifier(environment: options.environment, logger: logger) { await pool.ping() }
    let (api, admin) = buildListeners(
        runtime: runtime, options: options,
        onAPIRunning: { port in
            ports.set(api: port)
            notifier.apiIsListening()
            await options.onAPIRunning()
        },
        onAdminRunning: { port in ports.set(admin: port) })
    var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
    if options.runsPool { services.append(.init(service: pool)) }
    services += [
        .init(service: runtime.audit), .init(service: runtime.cacheInvalidator()), .init(service: runtime.scheduler),
        .init(service: admin), .init(service: runtime.fastPathReads), .init(service: api),
        .init(service: notifier), .init(service: FailureLogFlusher(log: runtime.failures)),
    ]
    if options.reloadsOnHangup {
        services.append(
            .init(service: HangupReloader(tokens: runtime.tokens, keyring: runtime.keyring, scheduler: runtime.scheduler, logger: logger)))
    }
    var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: options.gracefulShutdownSignals, logger: logger)
    configuration.maximumGracefulShutdownDuration = options.maximumShutdown
    return Daemon(runtime: runtime, group: ServiceGroup(configuration: configuration), ports: ports)
}

/// The API listener (resolve, the connectors API, OAuth) and the admin listener (probes, metrics), each holding
/// its connections to the options' limits (``ListenerLimitedChannel``).
private func buildListeners(
    runtime: ResolverRuntime, options: DaemonOptions, onAPIRunning: @escaping @Sendable (Int) async -> Void,
    onAdminRunning: @escaping @Sendable (Int) async -> Void
) -> (api: some Service, admin: some Service) {
    let routes = ResolveRoutes(runtime: runtime)
    let executors = ExecutorRotation(runtime.pool.executors)
    let apiConnections = ListenerConnections(listener: "api", limits: options.limits, metrics: runtime.metrics)
    let adminConnections = ListenerConnections(listener: "admin", limits: options.limits, metrics: runtime.metrics)
    let api = Application(
        router: buildAPIRouter(runtime: runtime),
        server: HTTPServerBuilder { responder in
            DatabaseAffineChannel(
                ListenerLimitedChannel(
                    FastPathChannel(HTTP1Channel(responder: responder)) {
                        ResolveFastPath(routes: routes, serverName: serverName, logger: runtime.logger, executor: executors.next())
                    },
                    connections: apiConnections),
                executors: executors)
        },
        configuration: .init(address: .hostname(options.listen.host, port: options.listen.port), serverName: serverName),
        onServerRunning: { channel in
            runtime.logger.notice("API listening", metadata: ["address": "\(channel.localAddress.map(describe) ?? "?")"])
            await onAPIRunning(channel.localAddress?.port ?? 0)
        },
        logger: runtime.logger)
    let admin = Application(
        router: buildAdminRouter(runtime: runtime),
        server: HTTPServerBuilder { responder in ListenerLimitedChannel(HTTP1Channel(responder: responder), connections: adminConnections) },
        configuration: .init(address: .hostname(options.adminListen.host, port: options.adminListen.port), serverName: serverName),
        onServerRunning: { channel in
            runtime.logger.notice("admin listening", metadata: ["address": "\(channel.localAddress.map(describe) ?? "?")"])
            await onAdminRunning(channel.localAddress?.port ?? 0)
        },
        logger: runtime.logger)
    return (api, admin)
}

/// The ports the daemon's listeners bound, known once each listens.
final class ListeningPorts: Sendable {
    private struct State {
        var api: Int?
        var admin: Int?
        var closed = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    var api: Int? { state.withLock { $0.api } }
    var admin: Int? { state.withLock { $0.admin } }

    func set(api: Int) { update { $0.api = api } }
    func set(admin: Int) { update { $0.admin = admin } }
    /// The daemon stopped: nothing waits any longer.
    func close() { update { $0.closed = true } }

    private func update(_ change: (inout State) -> Void) {
        let waiting = state.withLock { state in
            change(&state)
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Waits until both listeners listen: (api, admin); nil when the daemon stopped first.
    func bound() async -> (api: Int, admin: Int)? {
        while true {
            let (api, admin, closed) = state.withLock { ($0.api, $0.admin, $0.closed) }
            if let api, let admin { return (api, admin) }
            if closed { return nil }
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state in
                    if (state.api != nil && state.admin != nil) || state.closed { return true }
                    state.waiting.append(continuation)
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }
}

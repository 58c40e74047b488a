import Foundation
import PGClient
import Prometheus

/// The daemon's Prometheus metrics, in a registry of its own (so tests can build several daemons).
final class ResolverMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let resolveDuration: DurationHistogram
    private let poolInUse: Gauge
    private let poolIdle: Gauge
    private let poolWaiting: Gauge
    private let poolOpen: Gauge
    private let poolShared: Gauge
    private let poolPipelined: Gauge
    private let refreshDuration: DurationHistogram
    private let refreshDue: Gauge
    private let refreshLag: Gauge
    private let refreshLeases: Gauge
    private let cacheHits: Counter
    private let cacheMisses: Counter
    private let eventLoopAnswers: Counter
    private let fastPathReads: Counter
    private let auditDropped: Counter
    private let resolveReadSize: ValueHistogram
    /// Counters for the outcomes the resolver knows, made once: looking one up per request costs a lock.
    private let outcomes: [String: Counter]
    /// Connections a listener closed on its own, by listener (`api`, `admin`) and reason, made once.
    private let connectionsClosed: [String: Counter]

    init() {
        resolveDuration = registry.makeDurationHistogram(
            descriptor: Self.name("resolve_duration", unit: "seconds", help: "Time to answer one resolve, from the request to the answer"),
            buckets: [
                .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            ])
        let cache = Self.name("resolve_cache", unit: "total", help: "Resolves answered from the cache (hit) or from the database (miss)")
        cacheHits = registry.makeCounter(descriptor: cache, labels: [("result", "hit")])
        cacheMisses = registry.makeCounter(descriptor: cache, labels: [("result", "miss")])
        eventLoopAnswers = registry.makeCounter(
            descriptor: Self.name(
                "resolve_event_loop_answers", unit: "total",
                help: "Cache hits answered on the connection's event loop, before the router (a subset of the hits)"))
        fastPathReads = registry.makeCounter(
            descriptor: Self.name(
                "resolve_fast_path_reads", unit: "total",
                help: "Resolves the cache could not answer, read from the database and answered without the router"))
        auditDropped = registry.makeCounter(
            descriptor: Self.name(
                "audit_events_dropped", unit: "total", help: "Audit events dropped because the buffer was full while writes failed"))
        resolveReadSize = registry.makeValueHistogram(
            descriptor: Self.name(
                "resolve_read_connectors", unit: "", help: "Connectors asked for by one resolve read (more than one: reads batched under load)"),
            buckets: [1, 2, 4, 8, 16, 32, 64])
        poolInUse = registry.makeGauge(descriptor: Self.pool, labels: [("state", "in_use")])
        poolIdle = registry.makeGauge(descriptor: Self.pool, labels: [("state", "idle")])
        poolWaiting = registry.makeGauge(descriptor: Self.pool, labels: [("state", "waiting")])
        poolOpen = registry.makeGauge(descriptor: Self.pool, labels: [("state", "open")])
        poolShared = registry.makeGauge(
            descriptor: Self.name("db_pool_shared", unit: "connections", help: "Pool connections in use shared by single statements (pipeline mode)"))
        poolPipelined = registry.makeGauge(
            descriptor: Self.name("db_pool_pipelined", unit: "statements", help: "Statements in flight on shared pool connections"))
        refreshDuration = registry.makeDurationHistogram(
            descriptor: Self.name("refresh_duration", unit: "seconds", help: "Time of one refresh, provider call and write"),
            buckets: [
                .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                .seconds(1), .seconds(2), .seconds(5), .seconds(15),
            ])
        refreshDue = registry.makeGauge(descriptor: Self.name("refresh_backlog", unit: "connectors", help: "Connectors due for refresh now"))
        refreshLag = registry.makeGauge(
            descriptor: Self.name("refresh_lag", unit: "seconds", help: "How late the oldest due refresh is (now - oldest due time)"))
        refreshLeases = registry.makeGauge(descriptor: Self.name("refresh_leases", unit: "count", help: "Refresh leases held now, by every replica"))
        let known = [
            "ok", "invalid_request", "unauthorized", "forbidden", "not_connected", "needs_reauth", "disabled", "payload_too_large",
            "unavailable", "refresh_unavailable", "corrupt_credential", "internal",
        ]
        outcomes = Dictionary(
            uniqueKeysWithValues: known.map { [registry] in ($0, registry.makeCounter(descriptor: Self.resolves, labels: [("outcome", $0)])) })
        let closed = Self.name("connections_closed", unit: "total", help: "Connections a listener closed: idle, request too slow, or over its limit")
        connectionsClosed = Dictionary(
            uniqueKeysWithValues: ["api", "admin"].flatMap { [registry] listener in
                ConnectionClosing.allCases.map { reason in
                    let labels = [("listener", listener), ("reason", reason.rawValue)]
                    return ("\(listener)/\(reason.rawValue)", registry.makeCounter(descriptor: closed, labels: labels))
                }
            })
    }

    private static func name(_ metric: String, unit: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "resolverd", metricName: metric, unitName: unit, helpText: help)
    }

    private static var resolves: MetricNameDescriptor { name("resolves", unit: "total", help: "Resolves by outcome") }
    private static var pool: MetricNameDescriptor { name("db_pool", unit: "connections", help: "Database pool connections by state") }
    private static var connectors: MetricNameDescriptor { name("connectors", unit: "count", help: "Connectors by status") }

    /// Counts one resolve by outcome (`ok` or the error code) and records its latency.
    func recordResolve(outcome: String, duration: Duration) {
        (outcomes[outcome] ?? registry.makeCounter(descriptor: Self.resolves, labels: [("outcome", outcome)])).increment()
        resolveDuration.record(duration)
    }

    /// Counts one cache lookup of the resolve path.
    func recordCacheLookup(hit: Bool) {
        (hit ? cacheHits : cacheMisses).increment()
    }

    /// Counts one cache hit answered by ``ResolveFastPath``.
    func recordEventLoopAnswer() {
        eventLoopAnswers.increment()
    }

    /// Records how many connectors one resolve read asked for.
    func recordResolveRead(connectors: Int) {
        resolveReadSize.record(Double(connectors))
    }

    /// Counts one resolve that ``ResolveFastPath`` sent to the database itself.
    func recordFastPathRead() {
        fastPathReads.increment()
    }

    /// Counts audit events a full buffer dropped.
    func recordAuditDropped(_ count: Int) {
        auditDropped.increment(by: Int64(count))
    }

    /// Counts one connection a listener closed on its own.
    func recordConnectionClosed(listener: String, reason: ConnectionClosing) {
        connectionsClosed["\(listener)/\(reason.rawValue)"]?.increment()
    }

    /// Counts one refresh by provider and outcome and records its time.
    func recordRefresh(provider: String, outcome: String, duration: Duration) {
        registry.makeCounter(
            descriptor: Self.name("refreshes", unit: "total", help: "Refreshes by provider and outcome"),
            labels: [("provider", provider), ("outcome", outcome)]
        ).increment()
        refreshDuration.record(duration)
    }

    func recordRefreshBacklog(due: Int, lag: Double, leases: Int) {
        refreshDue.set(Double(due))
        refreshLag.set(lag)
        refreshLeases.set(Double(leases))
    }

    func recordPool(_ pool: PGConnectionPool.Statistics) {
        poolOpen.set(Double(pool.open))
        poolIdle.set(Double(pool.idle))
        poolInUse.set(Double(pool.inUse))
        poolWaiting.set(Double(pool.waiting))
        poolShared.set(Double(pool.shared))
        poolPipelined.set(Double(pool.pipelined))
    }

    func recordConnectors(byStatus counts: [String: Int]) {
        for status in ["pending", "connected", "failed", "needs_reauth", "disabled"] {
            registry.makeGauge(descriptor: Self.connectors, labels: [("status", status)])
                .set(Double(counts[status] ?? 0))
        }
    }

    /// The Prometheus text exposition.
    func render() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}

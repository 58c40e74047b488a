import Foundation
import Prometheus

/// The daemon's Prometheus metrics, in a registry of its own (so tests can build several daemons).
final class ResolverMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let resolveDuration: DurationHistogram
    private let poolInUse: Gauge
    private let poolIdle: Gauge
    private let poolWaiting: Gauge
    private let poolOpen: Gauge
    /// Counters for the outcomes the resolver knows, made once: looking one up per request costs a lock.
    private let outcomes: [String: Counter]

    init() {
        resolveDuration = registry.makeDurationHistogram(
            descriptor: Self.name("resolve_duration", unit: "seconds", help: "Time to answer one resolve, from the request to the answer"),
            buckets: [.microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                      .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1)])
        poolInUse = registry.makeGauge(descriptor: Self.pool, labels: [("state", "in_use")])
        poolIdle = registry.makeGauge(descriptor: Self.pool, labels: [("state", "idle")])
        poolWaiting = registry.makeGauge(descriptor: Self.pool, labels: [("state", "waiting")])
        poolOpen = registry.makeGauge(descriptor: Self.pool, labels: [("state", "open")])
        let known = [
            "ok", "invalid_request", "unauthorized", "forbidden", "not_connected", "needs_reauth", "disabled", "payload_too_large",
            "unavailable", "refresh_unavailable", "corrupt_credential", "internal",
        ]
        outcomes = Dictionary(uniqueKeysWithValues: known.map { [registry] in ($0, registry.makeCounter(descriptor: Self.resolves, labels: [("outcome", $0)])) })
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

    func recordPool(open: Int, idle: Int, inUse: Int, waiting: Int) {
        poolOpen.set(Double(open))
        poolIdle.set(Double(idle))
        poolInUse.set(Double(inUse))
        poolWaiting.set(Double(waiting))
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

import Connectors
import Foundation
import Hummingbird
import NIOCore
import PGClient
import RefreshScheduler
import ResolverCrypto

/// `/healthz`, `/readyz` and `/metrics`, on the admin listener.
struct OperationsRoutes: Sendable {
    let runtime: ResolverRuntime

    func register(on router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in HTTPBodies.json(.ok, Array(#"{"status":"ok"}"#.utf8)) }
        router.get("/readyz") { _, _ in await readiness() }
        router.get("/metrics") { _, _ in await metrics() }
    }

    /// 200 when the database answers, the schema is current, keys are loaded and the refresh scheduler runs; else 503
    /// naming the failing check.
    func readiness() async -> Response {
        var checks: [(String, String)] = []
        if await runtime.pool.ping(), let current = try? await runtime.migrator.isCurrent(on: runtime.pool) {
            checks.append(("database", "ok"))
            checks.append(("schema", current ? "ok" : "not current: run resolverd migrate"))
        } else {
            checks.append(("database", "unreachable"))
            checks.append(("schema", "unknown"))
        }
        checks.append(("keyring", runtime.keyring.keyIDs.isEmpty ? "no keys loaded" : "ok"))
        if runtime.schedulerRequired {
            checks.append(("scheduler", runtime.scheduler.isRunning ? "ok" : "not running"))
        }
        let ready = checks.allSatisfy { $0.1 == "ok" }
        var json = JSONText()
        json.raw("{\"status\":")
        json.string(ready ? "ready" : "unavailable")
        json.raw(",\"checks\":{")
        for (index, check) in checks.enumerated() {
            if index > 0 { json.raw(",") }
            json.string(check.0)
            json.raw(":")
            json.string(check.1)
        }
        json.raw("}}")
        return HTTPBodies.json(ready ? .ok : .serviceUnavailable, json.bytes)
    }

    func metrics() async -> Response {
        runtime.metrics.recordPool(runtime.pool.statistics)
        if let counts = try? await runtime.store.countByStatus() {
            runtime.metrics.recordConnectors(byStatus: Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) }))
        }
        if let backlog = try? await runtime.store.refreshBacklog() {
            runtime.metrics.recordRefreshBacklog(due: backlog.due, lag: backlog.lag, leases: backlog.leases)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: runtime.metrics.render())))
    }
}

import Hummingbird
import Logging
import NIOCore

/// The API listener (resolve; later the connectors API) and the admin listener (probes, metrics), built from
/// one runtime. Tests call these with an in-memory configuration and port 0.
func buildApplications(
    runtime: ResolverRuntime, listen: ListenAddress, adminListen: ListenAddress,
    onAPIRunning: @escaping @Sendable () async -> Void = {}
) -> (api: some ApplicationProtocol, admin: some ApplicationProtocol) {
    let api = Application(
        router: buildAPIRouter(runtime: runtime),
        configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "resolverd"),
        onServerRunning: { channel in
            runtime.logger.notice("API listening", metadata: ["address": "\(channel.localAddress.map(describe) ?? "?")"])
            await onAPIRunning()
        },
        logger: runtime.logger)
    let admin = Application(
        router: buildAdminRouter(runtime: runtime),
        configuration: .init(address: .hostname(adminListen.host, port: adminListen.port), serverName: "resolverd"),
        onServerRunning: { channel in
            runtime.logger.notice("admin listening", metadata: ["address": "\(channel.localAddress.map(describe) ?? "?")"])
        },
        logger: runtime.logger)
    return (api, admin)
}

/// `host:port` (`[v6]:port`) of a bound socket: the port chosen when the configuration said 0.
private func describe(_ address: SocketAddress) -> String {
    let host = address.ipAddress ?? "?"
    let port = address.port.map(String.init) ?? "?"
    return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
}

func buildAPIRouter(runtime: ResolverRuntime) -> Router<BasicRequestContext> {
    let router = Router()
    router.add(middleware: ErrorBodyMiddleware())
    ResolveRoutes(runtime: runtime).register(on: router)
    ConnectorsRoutes(runtime: runtime).register(on: router)
    OAuthRoutes(runtime: runtime).register(on: router)
    return router
}

func buildAdminRouter(runtime: ResolverRuntime) -> Router<BasicRequestContext> {
    let router = Router()
    router.add(middleware: ErrorBodyMiddleware())
    OperationsRoutes(runtime: runtime).register(on: router)
    return router
}

/// Turns every error, ours or the framework's (unknown route, wrong method), into DESIGN.md's error body.
struct ErrorBodyMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            let code = error.status == .notFound ? "not_found" : error.status == .methodNotAllowed ? "method_not_allowed" : "invalid_request"
            throw APIError(error.status, code, error.status.reasonPhrase)
        } catch {
            throw APIError(error)
        }
    }
}

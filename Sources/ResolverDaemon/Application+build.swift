import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import PGClient

/// The `Server` header of every answer.
let serverName = "resolverd"

/// `host:port` (`[v6]:port`) of a bound socket: the port chosen when the configuration said 0.
func describe(_ address: SocketAddress) -> String {
    let host = address.ipAddress ?? "?"
    let port = address.port.map(String.init) ?? "?"
    return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
}

func buildAPIRouter(runtime: ResolverRuntime) -> Router<BasicRequestContext> {
    buildRouter { router in
        ResolveRoutes(runtime: runtime).register(on: router)
        ConnectorsRoutes(runtime: runtime).register(on: router)
        OAuthRoutes(runtime: runtime).register(on: router)
    }
}

func buildAdminRouter(runtime: ResolverRuntime) -> Router<BasicRequestContext> {
    buildRouter { router in OperationsRoutes(runtime: runtime).register(on: router) }
}

/// A router with the error middleware in front of the routes `register` adds.
private func buildRouter(_ register: (Router<BasicRequestContext>) -> Void) -> Router<BasicRequestContext> {
    let router = Router()
    let table = RouteTable()
    router.add(middleware: ErrorBodyMiddleware(routes: table))
    register(router)
    table.fill(from: router.routes.map { ($0.path, $0.method) })
    return router
}

/// The methods each registered path answers, so that a known path asked with another method gets 405 and
/// `Allow` rather than the router's 404. Filled once, after the routes are registered, before serving.
final class RouteTable: @unchecked Sendable {
    // Sendable: written once by `fill`, before the router serves its first request; only read afterwards.
    private var routes: [(path: RouterPath, method: HTTPRequest.Method)] = []

    func fill(from routes: [(RouterPath, HTTPRequest.Method)]) {
        self.routes = routes.map { (path: $0.0, method: $0.1) }
    }

    /// The methods of the route the path resolves to, as the router picks it (a literal component before a
    /// capture); empty for an unknown path.
    func methods(forPath path: String) -> [HTTPRequest.Method] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        let matching = routes.filter { route in
            route.path.components.count == parts.count && zip(route.path.components, parts).allSatisfy { $0 ~= $1 }
        }
        // The most literal path wins: compare component by component, a literal before a capture.
        func literalMask(_ path: RouterPath) -> [Bool] {
            path.components.map { element in element.description.first != "{" && element.description.first != "*" }
        }
        guard let best = matching.map(\.path).max(by: { literalMask($0).lexicographicallyPrecedes(literalMask($1)) { !$0 && $1 } }) else {
            return []
        }
        return matching.filter { $0.path == best }.map(\.method).sorted { $0.rawValue < $1.rawValue }
    }
}

/// Turns every error, ours or the framework's (unknown route, wrong method), into DESIGN.md's error body.
struct ErrorBodyMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = routes.methods(forPath: request.uri.path)
            guard allowed.isEmpty || allowed.contains(request.method) else { throw APIError.methodNotAllowed(allowed) }
            throw APIError(.notFound, "not_found", error.status.reasonPhrase)
        } catch let error as HTTPError {
            let code = error.status == .methodNotAllowed ? "method_not_allowed" : "invalid_request"
            throw APIError(error.status, code, error.status.reasonPhrase)
        } catch {
            throw APIError(error)
        }
    }
}

import Hummingbird

/// Answers with the fault `FaultInjection` holds for this request, before any route runs.
struct FaultMiddleware: RouterMiddleware {
    typealias Context = FakeRequestContext

    let faults: FaultInjection

    /// Thrown after a dropped connection, so nothing is written to it.
    struct ConnectionDropped: Error {}

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        switch faults.next() {
        case .none:
            return try await next(request, context)
        case .slow(let delay):
            try await Task.sleep(for: delay)
            return try await next(request, context)
        case .serverError(let status):
            return try JSONResponse.make(.init(code: status), FaultBody(error: "server_error", message: "the provider failed (injected fault)"))
        case .rateLimited(let seconds):
            return try JSONResponse.make(
                .tooManyRequests, FaultBody(error: "rate_limited", message: "too many requests"), headers: [.retryAfter: String(seconds)])
        case .dropConnection:
            try? await context.channel.close()
            throw ConnectionDropped()
        }
    }

    private struct FaultBody: Encodable {
        var error: String
        var message: String
    }
}

import Connectors
import FailureLogging
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Timekeeping

/// `POST /internal/v1/resolve` and `/internal/v1/resolve/batch`, for internal services holding a services token.
struct ResolveRoutes: Sendable {
    let runtime: ResolverRuntime

    func register(on router: Router<BasicRequestContext>) {
        // Handlers log through the request's logger, which carries Hummingbird's per-request id.
        router.post("/internal/v1/resolve") { request, context in try await resolveOne(request, logger: context.logger) }
        router.post("/internal/v1/resolve/batch") { request, context in try await resolveBatch(request, logger: context.logger) }
    }

    private func caller(_ request: Request) throws -> ServicesTokens.Entry {
        guard let entry = caller(request.headers) else { throw APIError.unauthorized }
        return entry
    }

    private func caller(_ headers: HTTPFields) -> ServicesTokens.Entry? {
        ServicesTokenHeader.token(in: headers).flatMap { runtime.tokens.current.authenticate($0) }
    }

    private func resolveOne(_ request: Request, logger: Logger) async throws -> Response {
        let started = ContinuousClock.now
        let entry: ServicesTokens.Entry
        do {
            entry = try caller(request)
        } catch let error as APIError {
            runtime.metrics.recordResolve(outcome: error.code, duration: started.duration(to: .now))
            throw error
        }
        let buffer = try await HTTPBodies.collect(request)
        let bytes = buffer.readableBytesView
        let parsed = try (ResolveRequest.fastParse(bytes) ?? ResolveRequest.decode(ResolveRequest.self, from: bytes)).validated()
        let outcome = await answer(parsed, for: entry, started: started, logger: logger)
        switch outcome {
        case .success(let json): return HTTPBodies.json(.ok, json)
        case .failure(let error): throw error
        }
    }

    private func resolveBatch(_ request: Request, logger: Logger) async throws -> Response {
        let entry = try caller(request)
        let buffer = try await HTTPBodies.collect(request)
        let batch = try ResolveRequest.decode(ResolveBatchRequest.self, from: buffer.readableBytesView)
        guard batch.requests.count <= ResolveBatchRequest.limit else {
            throw APIError.invalidRequest("a batch holds at most \(ResolveBatchRequest.limit) requests")
        }
        let results = await withTaskGroup(of: (Int, Result<ByteBuffer, APIError>).self) { group in
            for (index, item) in batch.requests.enumerated() {
                group.addTask {
                    let started = ContinuousClock.now
                    do {
                        return (index, await answer(try item.validated(), for: entry, started: started, logger: logger))
                    } catch {
                        return (index, .failure(APIError(error)))
                    }
                }
            }
            var ordered = [Result<ByteBuffer, APIError>?](repeating: nil, count: batch.requests.count)
            for await (index, result) in group { ordered[index] = result }
            return ordered.compactMap { $0 }
        }
        var json = JSONText(capacity: 256 * results.count)
        json.raw("{\"results\":[")
        for (index, result) in results.enumerated() {
            if index > 0 { json.raw(",") }
            switch result {
            case .success(let body): json.rawJSON(String(buffer: body))
            case .failure(let error): json.rawJSON(String(decoding: error.body, as: UTF8.self))
            }
        }
        json.raw("]}")
        return HTTPBodies.json(.ok, json.bytes)
    }

    /// Resolves for `entry`, recording metrics and the audit event; never throws. `cacheMissed`: the caller just
    /// looked the request up in the cache and found nothing (``fastAnswer(servicesToken:body:started:)``), so it is
    /// not looked up again.
    func answer(
        _ request: ResolveRequest, for entry: ServicesTokens.Entry, started: ContinuousClock.Instant, logger: Logger,
        cacheMissed: Bool = false
    ) async -> Result<ByteBuffer, APIError> {
        let result: Result<ByteBuffer, APIError>
        var connectorID: String?
        if !entry.mayResolve(request.provider) {
            result = .failure(APIError(.forbidden, "forbidden", "this services token may not resolve \(request.provider)"))
        } else {
            do {
                let cached = cacheMissed ? nil : cachedAnswer(request)
                runtime.metrics.recordCacheLookup(hit: cached != nil)
                if let cached {
                    connectorID = cached.connectorID
                    result = .success(cached.body)
                } else {
                    let read = try await runtime.answers.read(
                        userID: request.userID, provider: request.provider, minValidSeconds: request.effectiveMinValidSeconds)
                    connectorID = read.connectorID
                    // A read that worked: the database is back, and this provider's tokens are served again.
                    runtime.failures.clear { $0 == Self.databaseUnavailable || $0 == Self.notRenewable(provider: request.provider) }
                    result = .success(read.body)
                }
            } catch {
                let apiError = APIError(error)
                if let connectorError = error as? ConnectorError, connectorError.code == .corruptCredential {
                    runtime.failures.record(
                        Self.undecryptable(provider: request.provider, userID: request.userID), "stored credential does not decrypt",
                        metadata: ["provider": "\(request.provider)", "user_id": "\(request.userID)", "alert": "corrupt_credential"])
                } else if apiError.status.code >= 500 {
                    runtime.failures.record(
                        Self.failureKind(apiError, provider: request.provider), "resolve failed",
                        metadata: ["provider": "\(request.provider)", "error": "\(error)"])
                }
                result = .failure(apiError)
            }
        }
        let outcome: String
        switch result {
        case .success: outcome = "ok"
        case .failure(let error): outcome = error.code
        }
        record(outcome, of: request, by: entry, connectorID: connectorID, started: started)
        return result
    }

    /// Resolves answered 503 while the database is away: one condition, whatever the provider.
    static let databaseUnavailable = FailureLog.Kind(condition: "database unavailable", counted: "resolves answered 503", level: .error)

    /// The condition a failed resolve counts under: the database, a provider's refresh, or another code.
    static func failureKind(_ error: APIError, provider: String) -> FailureLog.Kind {
        switch error.code {
        case "unavailable": databaseUnavailable
        case "refresh_unavailable": notRenewable(provider: provider)
        default: FailureLog.Kind(condition: "resolves failing (\(error.code))", counted: "resolves answered \(error.status.code)", level: .error)
        }
    }

    static func notRenewable(provider: String) -> FailureLog.Kind {
        FailureLog.Kind(condition: "\(provider) tokens expired and not renewable", counted: "resolves answered 503", level: .error)
    }

    /// One connector whose stored secret does not open (one per user and provider).
    static func undecryptable(provider: String, userID: String) -> FailureLog.Kind {
        FailureLog.Kind(
            condition: "undecryptable credential (\(provider), user \(userID.prefix(64)))", counted: "resolves answered 503", level: .critical)
    }

    /// The answer the cache holds for `request`, if it is still valid for the request's `min_valid_seconds`.
    private func cachedAnswer(_ request: ResolveRequest) -> CachedResolver.Answer? {
        runtime.answers.cached(userID: request.userID, provider: request.provider, minValidSeconds: request.effectiveMinValidSeconds)
    }

    /// The metrics and the audit event of one resolve.
    private func record(
        _ outcome: String, of request: ResolveRequest, by entry: ServicesTokens.Entry, connectorID: String?,
        started: ContinuousClock.Instant
    ) {
        runtime.metrics.recordResolve(outcome: outcome, duration: started.duration(to: .now))
        runtime.audit.record(
            AuditWriter.Event(
                actor: entry.name, action: "resolve", outcome: outcome, connectorID: connectorID, provider: request.provider,
                userID: request.userID, at: runtime.time.now))
    }

    /// What ``ResolveFastPath`` does with a request it held to its end.
    enum FastAnswer {
        /// Write this 200 body: a cache hit, its metrics and audit event recorded.
        case answered(ByteBuffer)
        /// A plain resolve by a caller allowed to make it, which the cache could not answer: resolve it with
        /// ``answer(_:for:started:logger:cacheMissed:)``, telling it so, and write what that returns.
        case resolve(ResolveRequest, ServicesTokens.Entry)
        /// Anything else (no or a wrong services token, a body that is not the plain request, a provider the
        /// token may not resolve): nothing recorded; the router answers it.
        case pass
    }

    /// Decides on the connection's event loop, without waiting, what ``ResolveFastPath`` does with a resolve;
    /// `servicesToken` is the caller's, as ``ResolveFastPath/servicesToken(in:)`` found it (nil: none to check).
    func fastAnswer(servicesToken: String?, body: ByteBuffer, started: ContinuousClock.Instant) -> FastAnswer {
        guard let entry = servicesToken.flatMap({ runtime.tokens.current.authenticate($0) }),
            let request = ResolveRequest.fastParse(body.readableBytesView), (try? request.validated()) != nil,
            entry.mayResolve(request.provider)
        else { return .pass }
        guard let cached = cachedAnswer(request) else { return .resolve(request, entry) }
        runtime.metrics.recordCacheLookup(hit: true)
        runtime.metrics.recordEventLoopAnswer()
        record("ok", of: request, by: entry, connectorID: cached.connectorID, started: started)
        return .answered(cached.body)
    }
}

private extension ResolveRequest {
    var effectiveMinValidSeconds: Int { minValidSeconds ?? Self.defaultMinValidSeconds }
}

import CLibPQ

// The statements a connection runs: exclusive ones for the task that leases it, pipelined ones that share it.
extension PGConnection {
    /// Runs one statement with its parameters as a prepared statement (prepared once per connection)
    /// and returns its rows in binary format.
    public func query(_ query: PGQuery, timeout: Duration? = nil) async throws -> PGRows {
        if let error = query.bindings.encodingError { throw error }
        let bindings = query.bindings
        let known = state.statements.lookup(query.sql, types: bindings.parameters.lazy.map(\.type))
        if case .prepared(let name) = known {
            return PGRows(try await execute(name: name, bindings: bindings, timeout: timeout))
        }
        let types = bindings.types
        guard known == .unknown, let name = state.statements.reserve(query.sql, types: types) else {
            let result = try await roundTrip(timeout: timeout) { handle in
                bindings.withUnsafeParameters { count, values, lengths, formats in
                    PQsendQueryParams(handle, query.sql, count, types, values, lengths, formats, 1)
                }
            }
            return PGRows(try result.unwrap())
        }
        do {
            _ = try await roundTrip(timeout: timeout) { handle in
                PQsendPrepare(handle, name, query.sql, Int32(types.count), types)
            }
        } catch {
            state.statements.forget(query.sql, name: name)
            throw error
        }
        state.statements.accept(query.sql, name: name)
        return PGRows(try await execute(name: name, bindings: bindings, timeout: timeout))
    }

    /// Runs one statement like ``query(_:timeout:)`` on a connection other tasks may be using at the same time:
    /// it joins the connection's pipeline with a sync point of its own, so it runs in its own transaction.
    /// A statement that could not be sent, or that a cancel meant for another statement stopped, fails with an
    /// error whose `didNotRun` is true: nothing of it took effect, and it may be sent again elsewhere.
    func pipelinedQuery(_ query: PGQuery, timeout: Duration? = nil) async throws -> PGRows {
        if let error = query.bindings.encodingError { throw error }
        let result = try await waitForAnswer(timeout: timeout, cancellable: true) { generation, continuation, failed in
            sendPipelined(query, generation: generation, continuation: continuation, failing: &failed)
        }
        return PGRows(try result.unwrap())
    }

    private func execute(name: String, bindings: PGBindings, timeout: Duration?) async throws -> PGResult {
        try await roundTrip(timeout: timeout) { handle in
            bindings.withUnsafeParameters { count, values, lengths, formats in
                PQsendQueryPrepared(handle, name, count, values, lengths, formats, 1)
            }
        }.unwrap()
    }

    /// Runs SQL text through the simple query protocol: several statements allowed, no parameters,
    /// no rows returned. For transaction control and migrations.
    public func execute(unsafeSQL sql: String, timeout: Duration? = nil) async throws {
        _ = try await roundTrip(timeout: timeout) { handle in PQsendQuery(handle, sql) }
    }

    /// Rolls back the open transaction even when the task is cancelled; a failure leaves the connection
    /// mid-transaction, which the pool then refuses to reuse.
    func rollbackIgnoringCancellation() async {
        _ = try? await roundTrip(timeout: nil, cancellable: false) { handle in PQsendQuery(handle, "ROLLBACK") }
    }
}

extension Optional where Wrapped == PGResult {
    func unwrap() throws -> PGResult {
        guard let self else { throw PGError(.protocolViolation, message: "the server returned no result") }
        return self
    }
}

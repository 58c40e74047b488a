extension PGConnection {
    /// Runs `body` in a transaction: COMMIT when it returns; ROLLBACK when it throws or the task is cancelled.
    public func withTransaction<R>(_ body: (PGConnection) async throws -> R) async throws -> R {
        try await execute(unsafeSQL: "BEGIN")
        let result: R
        do {
            result = try await body(self)
        } catch {
            await rollbackIgnoringCancellation()
            throw error
        }
        if Task.isCancelled {
            await rollbackIgnoringCancellation()
            throw PGError(.cancelled, message: "the task was cancelled; the transaction was rolled back")
        }
        try await execute(unsafeSQL: "COMMIT")
        return result
    }
}

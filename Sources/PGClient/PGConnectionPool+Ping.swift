extension PGConnectionPool {
    /// True when the server answers a trivial statement within `timeout`: for readiness probes and service
    /// managers' watchdogs, which must not hang on a database that is away.
    public func ping(timeout: Duration = .seconds(2)) async -> Bool {
        (try? await query("SELECT 1", timeout: timeout)) != nil
    }
}

import PGClient

/// Audit rows arrive in time order and are never updated, so a BRIN index (a few pages for millions of rows)
/// serves time-range queries at a fraction of a B-tree's cost on every insert: every resolve adds a row.
enum Migration0004AuditTimeBRIN {
    static let migration = PGMigration(version: 4, name: "audit time index as BRIN", sql: sql)

    private static let sql = """
        DROP INDEX audit_events_time;
        CREATE INDEX audit_events_time ON audit_events USING brin (occurred_at);
        """
}

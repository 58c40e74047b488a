import PGClient

/// Drops the B-tree on the audit rows' connector. Every resolve adds an audit row, and keeping that index (random
/// keys, one entry per row) took the database's CPU for the audit write from ~3.5 to ~9 µs per resolve; nothing
/// in resolverd reads audit rows by connector, and an operator's question about one connector bounds the time,
/// which the BRIN index on `occurred_at` narrows to the matching block ranges.
enum Migration0005AuditConnectorIndex {
    static let migration = PGMigration(version: 5, name: "no audit connector index", sql: sql)

    private static let sql = """
        DROP INDEX IF EXISTS audit_events_connector;
        """
}

import PGClient

/// The refresh scheduler sleeps until the next due connector or the next lease to expire; this index finds the
/// latter without reading every connector.
enum Migration0003LeaseIndex {
    static let migration = PGMigration(version: 3, name: "lease expiry index", sql: sql)

    private static let sql = """
        CREATE INDEX connector_tokens_leases ON connector_tokens (lease_expires_at) WHERE lease_owner IS NOT NULL;
        """
}

import PGClient

/// Grants in flight remember the settings given at the start (a Shopify shop, a Zendesk subdomain): the
/// callback needs them to reach the provider's per-account token endpoint.
enum Migration0002GrantSettings {
    static let migration = PGMigration(version: 2, name: "grant settings", sql: sql)

    private static let sql = """
        ALTER TABLE connector_grants ADD COLUMN settings jsonb NOT NULL DEFAULT '{}';
        """
}

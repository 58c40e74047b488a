import PGClient

/// Three columns, all additive: the status a connector had when it was disabled (re-enabling restores it instead
/// of declaring the connector connected); until when its refresh budget is spent (one provider refresh per
/// connector per `max(10 s, lifetime / 4)`, however many replicas ask), set by each refresh; and the token of the
/// claim that holds its lease, which every write under the lease is fenced on (the owner alone is not enough: the
/// same replica may claim the row again after a reconnect, and a slow refresh of the old grant must not land).
enum Migration0007ReenableAndBudget {
    static let migration = PGMigration(version: 7, name: "status before disabled, refresh budget, lease token", sql: sql)

    private static let sql = """
        ALTER TABLE connector_tokens ADD COLUMN status_before_disabled text
            CHECK (status_before_disabled IN ('pending', 'connected', 'failed', 'needs_reauth'));
        ALTER TABLE connector_tokens ADD COLUMN refresh_budget_until timestamptz;
        ALTER TABLE connector_tokens ADD COLUMN lease_token text;
        """
}

public import PGClient

/// resolverd's database schema, as versioned migrations applied by `resolverd migrate`.
///
/// A migration, once released, is never edited: add a new version instead (the migrator reports an edited
/// one as `modified`).
public enum ConnectorsSchema {
    public static let migrations: [PGMigration] = [
        Migration0001Initial.migration,
        Migration0002GrantSettings.migration,
        Migration0003LeaseIndex.migration,
        Migration0004AuditTimeBRIN.migration,
        Migration0005AuditConnectorIndex.migration,
        Migration0006AuditBatches.migration,
        Migration0007ReenableAndBudget.migration,
        Migration0008GrantConfirmation.migration,
    ]

    /// The migrator for this schema.
    public static func migrator() -> PGMigrator {
        PGMigrator(migrations: migrations)
    }
}

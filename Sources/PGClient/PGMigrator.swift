public import Foundation
public import Logging

/// One versioned schema change.
public struct PGMigration: Sendable {
    public var version: Int
    public var name: String
    /// SQL text run through the simple query protocol; several statements are allowed.
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// A short fingerprint of the SQL (FNV-1a, 64 bits, hex), so an edited migration is noticed.
    public var checksum: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sql.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}

/// Where one migration stands in a database.
public struct PGMigrationStatus: Sendable, Equatable {
    public enum State: String, Sendable {
        case applied
        case pending
        /// Applied, but the SQL in this binary differs from what was run.
        case modified
        /// Applied by a newer binary; this one does not know it.
        case unknown
    }
    public var version: Int
    public var name: String
    public var state: State
    public var appliedAt: Date?
}

/// Applies migrations in version order, each in its own transaction under an advisory lock, so several
/// replicas may run it at once: one applies each version, the others see it applied.
public struct PGMigrator: Sendable {
    public var migrations: [PGMigration]
    /// The table recording applied versions.
    public var table: String
    public var logger: Logger

    public init(migrations: [PGMigration], table: String = "schema_migrations", logger: Logger = Logger(label: "pg.migrate")) {
        precondition(Set(migrations.map(\.version)).count == migrations.count, "migration versions must be unique")
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.table = table
        self.logger = logger
    }

    /// The advisory lock's key: fixed per table name, so unrelated migrators do not block each other.
    private var lockKey: Int64 {
        var hash: Int64 = 0x5245_534F_4C56_4552  // "RESOLVER"
        for byte in table.utf8 { hash = (hash &* 31) &+ Int64(byte) }
        return hash
    }

    private var createTable: String {
        """
        CREATE TABLE IF NOT EXISTS \(PGQuery.quoteIdentifier(table)) (
            version integer PRIMARY KEY,
            name text NOT NULL,
            checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    }

    /// Applies every pending migration; returns the versions this call applied.
    @discardableResult
    public func migrate(on pool: PGConnectionPool) async throws -> [Int] {
        var applied: [Int] = []
        for migration in migrations {
            let didApply = try await pool.withTransaction { connection -> Bool in
                _ = try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))")
                try await connection.execute(unsafeSQL: createTable)
                let existing = try await connection.query(
                    "SELECT checksum FROM \(identifier: table) WHERE version = \(migration.version)")
                if let row = existing.first {
                    if try row.decode(String.self, at: 0) != migration.checksum {
                        logger.warning("applied migration differs from this binary's", metadata: ["version": "\(migration.version)"])
                    }
                    return false
                }
                do {
                    try await connection.execute(unsafeSQL: migration.sql)
                } catch var error as PGError {
                    error.message = "migration \(migration.version) (\(migration.name)) failed: \(error.message)"
                    throw error
                }
                _ = try await connection.query(
                    """
                    INSERT INTO \(identifier: table) (version, name, checksum)
                    VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                    """)
                return true
            }
            if didApply {
                logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                applied.append(migration.version)
            }
        }
        return applied
    }

    /// Every known and applied version with its state, in version order.
    public func status(on pool: PGConnectionPool) async throws -> [PGMigrationStatus] {
        let exists = try await pool.query("SELECT to_regclass(\(PGQuery.quoteIdentifier(table))) IS NOT NULL")
        var rows: [Int: (name: String, checksum: String, appliedAt: Date)] = [:]
        if try exists.first?.decode(Bool.self, at: 0) == true {
            let applied = try await pool.query("SELECT version, name, checksum, applied_at FROM \(identifier: table)")
            for row in applied {
                let (version, name, checksum, appliedAt) = try row.decode((Int, String, String, Date).self)
                rows[version] = (name, checksum, appliedAt)
            }
        }
        var statuses = migrations.map { migration -> PGMigrationStatus in
            guard let row = rows[migration.version] else {
                return PGMigrationStatus(version: migration.version, name: migration.name, state: .pending)
            }
            let state: PGMigrationStatus.State = row.checksum == migration.checksum ? .applied : .modified
            return PGMigrationStatus(version: migration.version, name: migration.name, state: state, appliedAt: row.appliedAt)
        }
        let known = Set(migrations.map(\.version))
        for (version, row) in rows where !known.contains(version) {
            statuses.append(PGMigrationStatus(version: version, name: row.name, state: .unknown, appliedAt: row.appliedAt))
        }
        return statuses.sorted { $0.version < $1.version }
    }

    /// True when every migration of this binary is applied. Versions newer than all of this binary's are fine:
    /// migrations are additive across one release, so an older binary keeps serving while `migrate` runs ahead of
    /// a rolling deploy. An unknown version older than this binary's newest (a gap) is not.
    public func isCurrent(on pool: PGConnectionPool) async throws -> Bool {
        let newest = migrations.map(\.version).max() ?? 0
        return try await status(on: pool).allSatisfy { status in
            switch status.state {
            case .applied, .modified: true
            case .unknown: status.version > newest
            case .pending: false
            }
        }
    }
}

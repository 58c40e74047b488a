import Foundation
import PGClient
import PGTestSupport
import Testing

@Suite(.enabled(if: TestDatabase.isConfigured)) struct MigratorTests {
    let migrations = [
        PGMigration(version: 1, name: "items", sql: "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL);"),
        PGMigration(version: 2, name: "item names", sql: "ALTER TABLE items ADD COLUMN label text; CREATE INDEX items_label ON items (label);"),
    ]

    @Test func appliesOnAFreshDatabaseAndIsANoOpTheSecondTime() async throws {
        try await TestDatabase.withSchema { pool, _ in
            let migrator = PGMigrator(migrations: migrations)
            #expect(try await migrator.status(on: pool).map(\.state) == [.pending, .pending])
            #expect(try await migrator.migrate(on: pool) == [1, 2])
            #expect(try await migrator.migrate(on: pool) == [])
            #expect(try await migrator.status(on: pool).map(\.state) == [.applied, .applied])
            #expect(try await migrator.isCurrent(on: pool))
            _ = try await pool.query("INSERT INTO items (name, label) VALUES ('a', 'b')")
        }
    }

    @Test func twoAtOnceBothSucceed() async throws {
        try await TestDatabase.withSchema(maxConnections: 2) { pool, configuration in
            let other = PGConnectionPool(configuration: PGPoolConfiguration(connection: configuration))
            defer { Task { await other.shutdown() } }
            async let first = PGMigrator(migrations: migrations).migrate(on: pool)
            async let second = PGMigrator(migrations: migrations).migrate(on: other)
            let applied = try await (first + second).sorted()
            #expect(applied == [1, 2])
            #expect(try await pool.query("SELECT count(*) FROM schema_migrations").first?.decode(Int.self, at: 0) == 2)
        }
    }

    @Test func aFailingMigrationRollsBackWhole() async throws {
        try await TestDatabase.withSchema { pool, _ in
            let broken = migrations + [PGMigration(version: 3, name: "broken", sql: "CREATE TABLE partial (id int); SELECT no_such_function();")]
            let error = try await #require(throws: PGError.self) { try await PGMigrator(migrations: broken).migrate(on: pool) }
            #expect(error.message.contains("migration 3"))
            #expect(try await pool.query("SELECT to_regclass('partial') IS NULL").first?.decode(Bool.self, at: 0) == true)
            #expect(try await PGMigrator(migrations: broken).status(on: pool).map(\.state) == [.applied, .applied, .pending])
        }
    }

    @Test func reportsEditedAndUnknownVersions() async throws {
        try await TestDatabase.withSchema { pool, _ in
            try await PGMigrator(migrations: migrations).migrate(on: pool)
            var edited = migrations
            edited[1].sql += " -- edited"
            let older = PGMigrator(migrations: [edited[0]] + [edited[1]])
            #expect(try await older.status(on: pool).map(\.state) == [.applied, .modified])
            // An older binary against a schema a newer one migrated ahead (a rolling upgrade): still current.
            let oldBinary = PGMigrator(migrations: [migrations[0]])
            #expect(try await oldBinary.status(on: pool).map(\.state) == [.applied, .unknown])
            #expect(try await oldBinary.isCurrent(on: pool))
            // A gap (a version this binary should know is missing) is not.
            let gapped = PGMigrator(migrations: [migrations[1]])
            #expect(try await gapped.isCurrent(on: pool) == false)
        }
    }
}

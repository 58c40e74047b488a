import Connectors
import Foundation
import PGClient
import PGTestSupport
import Testing

@Suite(.enabled(if: TestDatabase.isConfigured)) struct SchemaTests {
    @Test func migratesAFreshDatabaseOnceAndReportsCurrent() async throws {
        try await TestDatabase.withSchema { pool, _ in
            let migrator = ConnectorsSchema.migrator()
            #expect(try await migrator.migrate(on: pool) == ConnectorsSchema.migrations.map(\.version))
            #expect(try await migrator.migrate(on: pool) == [])
            #expect(try await migrator.isCurrent(on: pool))
            let tables = try await pool.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name")
            #expect(
                try tables.map { try $0.decode(String.self, at: 0) }
                    == [
                        "api_keys", "audit_batches", "audit_events", "audit_events_before_batches", "connector_grants", "connector_tokens",
                        "schema_migrations",
                    ])
            // Audit events arrive in batches: besides its key, the table keeps only a BRIN index on the batches' time
            // spans, and the events' arrays are stored uncompressed.
            let auditIndexes = try await pool.query(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'audit_batches' ORDER BY indexname")
            let indexes = try auditIndexes.map { try $0.decode((String, String).self) }
            #expect(indexes.map(\.0) == ["audit_batches_pkey", "audit_batches_time"])
            #expect(indexes.last?.1.contains("USING brin (first_at, last_at)") == true)
            let external = try await pool.query(
                "SELECT attname::text FROM pg_attribute WHERE attrelid = 'audit_batches'::regclass AND attstorage = 'e' ORDER BY attname")
            #expect(try external.map { try $0.decode(String.self, at: 0) } == ["connector_id", "occurred_at", "provider", "user_id"])
            // ANALYZE leaves the arrays alone: reading a sample of them back took seconds.
            let unanalyzed = try await pool.query(
                "SELECT attname::text FROM pg_attribute WHERE attrelid = 'audit_batches'::regclass AND attnum > 0 AND attstattarget = 0 ORDER BY attname"
            )
            let arrays = try unanalyzed.map { try $0.decode(String.self, at: 0) }
            #expect(arrays == ["connector_id", "occurred_at", "provider", "user_id"])
            let kind = try await pool.query(
                "SELECT table_type::text FROM information_schema.tables WHERE table_name = 'audit_events' AND table_schema = current_schema()")
            #expect(try kind.first?.decode(String.self, at: 0) == "VIEW")
        }
    }

    @Test func secretColumnsAreBytesAndOneConnectorPerUserAndProvider() async throws {
        try await TestDatabase.withSchema { pool, _ in
            try await ConnectorsSchema.migrator().migrate(on: pool)
            let secretTypes = try await pool.query(
                """
                SELECT column_name, data_type FROM information_schema.columns
                WHERE table_schema = current_schema() AND column_name IN ('access_token', 'refresh_token', 'code_verifier', 'key_hash', 'state_hash')
                """)
            #expect(try secretTypes.allSatisfy { try $0.decode(String.self, at: 1) == "bytea" })
            // connector_tokens' two tokens, the two a held grant keeps (migration 8), and the three hashes and verifier.
            #expect(secretTypes.count == 7)
            let ciphertext: [UInt8] = [1, 0, 2, 0]
            _ = try await pool.query(
                "INSERT INTO connector_tokens (id, user_id, provider, type, access_token) VALUES ('ct_1', 'u_1', 'stripe', 'api_key', \(ciphertext))")
            let duplicate = try await #require(throws: PGError.self) {
                _ = try await pool.query("INSERT INTO connector_tokens (id, user_id, provider, type) VALUES ('ct_2', 'u_1', 'stripe', 'api_key')")
            }
            #expect(duplicate.sqlState == "23505")
            #expect(duplicate.constraint == "connector_tokens_user_provider")
            let bad = try await #require(throws: PGError.self) {
                _ = try await pool.query("INSERT INTO connector_tokens (id, user_id, provider, type) VALUES ('ct_3', 'u_1', 'gmail', 'password')")
            }
            #expect(bad.sqlState == "23514")
            let row = try #require(try await pool.query("SELECT access_token, scopes, metadata::text, status FROM connector_tokens").first)
            #expect(try row.decode([UInt8].self, at: 0) == ciphertext)
            #expect(try row.decode([String].self, at: 1) == [])
            #expect(try row.decode(String.self, at: 3) == "connected")
        }
    }

    @Test func theRefreshScanUsesItsIndex() async throws {
        try await TestDatabase.withSchema { pool, _ in
            try await ConnectorsSchema.migrator().migrate(on: pool)
            _ = try await pool.query(
                """
                INSERT INTO connector_tokens (id, user_id, provider, type, next_refresh_at)
                SELECT 'ct_' || n, 'u_' || n, 'gmail', 'oauth', now() + n * interval '1 second' FROM generate_series(1, 5000) n
                """)
            _ = try await pool.query("ANALYZE connector_tokens")
            let plan = try await pool.query(
                """
                EXPLAIN SELECT id FROM connector_tokens WHERE status = 'connected' AND next_refresh_at <= now() + interval '10 seconds'
                ORDER BY next_refresh_at LIMIT 100 FOR UPDATE SKIP LOCKED
                """)
            let text = try plan.map { try $0.decode(String.self, at: 0) }.joined(separator: "\n")
            #expect(text.contains("connector_tokens_refresh_due"), "\(text)")
        }
    }
}

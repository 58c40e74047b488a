import Connectors
import ResolverCrypto
import Foundation
import PGClient
import PGTestSupport
import Testing

@Suite(.enabled(if: TestDatabase.isConfigured)) struct ConnectorStoreTests {
    /// A store on a migrated schema with a fresh in-memory key.
    func withStore(_ body: (ConnectorStore, PGConnectionPool, PGConnectionConfiguration) async throws -> Void) async throws {
        try await TestDatabase.withSchema { pool, configuration in
            try await ConnectorsSchema.migrator().migrate(on: pool)
            let keyring = try Keyring(keys: ["k1": SymmetricKey(size: .bits256)])
            try await body(ConnectorStore(pool: pool, cipher: CredentialCipher(keyring: keyring)), pool, configuration)
        }
    }

    /// A sample secret made here, never a real key.
    func sampleKey() throws -> String { "sk_test_" + Hex.encode(try SecureRandom.bytes(count: 16)) }

    @Test func storesEncryptedAndResolvesTheSameSecret() async throws {
        try await withStore { store, pool, _ in
            let secret = try sampleKey()
            let record = try await store.put(
                userID: "u_1", provider: "stripe", credential: Credential(type: .apiKey, accessToken: secret),
                metadataJSON: #"{"account_name": "Acme"}"#)
            #expect(record.id.hasPrefix("ct_") && record.status == .connected && record.type == .apiKey)
            let resolved = try #require(try await store.resolve(userID: "u_1", provider: "stripe"))
            #expect(resolved.accessToken == secret)
            #expect(resolved.record.metadataJSON.contains("Acme"))
            // What the database holds is ciphertext, not the secret.
            let stored = try #require(try await pool.query("SELECT access_token FROM connector_tokens").first).decode([UInt8].self, at: 0)
            #expect(!String(decoding: stored, as: UTF8.self).contains(secret))
            #expect(try await store.resolve(userID: "u_2", provider: "stripe")?.record == nil)
        }
    }

    @Test func reconnectingReplacesTheCredentialAndKeepsTheID() async throws {
        try await withStore { store, _, _ in
            let first = try await store.put(userID: "u_1", provider: "gmail", credential: Credential(type: .oauth, accessToken: "at-1", refreshToken: "rt-1"))
            let second = try await store.put(userID: "u_1", provider: "gmail", credential: Credential(type: .oauth, accessToken: "at-2"))
            #expect(first.id == second.id)
            #expect(second.version > first.version)
            #expect(try await store.resolve(userID: "u_1", provider: "gmail")?.accessToken == "at-2")
            // Concurrent reconnects serialise: every one leaves a row that decrypts.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<8 {
                    group.addTask { try await store.put(userID: "u_1", provider: "gmail", credential: Credential(type: .oauth, accessToken: "at-\(i)")) }
                }
                try await group.waitForAll()
            }
            let token = try #require(try await store.resolve(userID: "u_1", provider: "gmail")).accessToken
            #expect(token.hasPrefix("at-"))
            #expect(try await store.list(userID: "u_1").count == 1)
        }
    }

    @Test func aCiphertextCopiedToAnotherRowDoesNotOpen() async throws {
        try await withStore { store, pool, _ in
            try await store.put(userID: "u_1", provider: "stripe", credential: Credential(type: .apiKey, accessToken: try sampleKey()))
            try await store.put(userID: "u_2", provider: "stripe", credential: Credential(type: .apiKey, accessToken: try sampleKey()))
            _ = try await pool.query(
                """
                UPDATE connector_tokens SET access_token = (SELECT access_token FROM connector_tokens WHERE user_id = 'u_1')
                WHERE user_id = 'u_2'
                """)
            let error = try await #require(throws: ConnectorError.self) { _ = try await store.resolve(userID: "u_2", provider: "stripe") }
            #expect(error.code == .corruptCredential)
            // A value moved to another column of the same row fails too.
            try await store.put(userID: "u_3", provider: "gmail", credential: Credential(type: .oauth, accessToken: "at", refreshToken: "rt"))
            _ = try await pool.query("UPDATE connector_tokens SET access_token = refresh_token WHERE user_id = 'u_3'")
            await #expect(throws: ConnectorError.self) { _ = try await store.resolve(userID: "u_3", provider: "gmail") }
        }
    }

    @Test func deleteAnnouncesAndForgets() async throws {
        try await withStore { store, _, configuration in
            let events = PGListener(configuration: configuration).events(channels: [ConnectorStore.changeChannel])
            var iterator = events.makeAsyncIterator()
            #expect(await iterator.next() == .listening)
            let record = try await store.put(userID: "u_1", provider: "stripe", credential: Credential(type: .apiKey, accessToken: try sampleKey()))
            #expect(try await store.delete(userID: "u_2", reference: record.id) == false)  // another user's: untouched
            #expect(try await store.delete(userID: "u_1", reference: "stripe"))
            #expect(try await store.resolve(userID: "u_1", provider: "stripe")?.record == nil)
            // The channel is shared by every test's schema in the database: keep only this test's announcements.
            var payloads: [String] = []
            while payloads.count < 2, let event = await iterator.next() {
                if case .notification(let note) = event, note.payload.contains(record.id) { payloads.append(note.payload) }
            }
            #expect(payloads.count == 2)
            #expect(payloads.allSatisfy { $0.contains("\"provider\" : \"stripe\"") && $0.contains("\"user_id\" : \"u_1\"") })
        }
    }
}


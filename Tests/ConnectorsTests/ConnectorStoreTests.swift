import Foundation
import PGClient
import PGTestSupport
import ResolverCrypto
import Synchronization
import Testing
@testable import Connectors

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
            let first = try await store.put(
                userID: "u_1", provider: "gmail", credential: Credential(type: .oauth, accessToken: "at-1", refreshToken: "rt-1"))
            let second = try await store.put(userID: "u_1", provider: "gmail", credential: Credential(type: .oauth, accessToken: "at-2"))
            #expect(first.id == second.id)
            #expect(second.version > first.version)
            #expect(try await store.resolve(userID: "u_1", provider: "gmail")?.accessToken == "at-2")
            // Concurrent reconnects serialise: every one leaves a row that decrypts.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<8 {
                    group.addTask {
                        try await store.put(userID: "u_1", provider: "gmail", credential: Credential(type: .oauth, accessToken: "at-\(i)"))
                    }
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

    @Test func oneReadForManyKeysFindsEachKeysRowAndNothingElse() async throws {
        try await withStore { store, pool, _ in
            var secrets: [String: String] = [:]
            for index in 1...5 {
                let secret = try sampleKey()
                secrets["u_\(index)"] = secret
                try await store.put(userID: "u_\(index)", provider: "stripe", credential: Credential(type: .apiKey, accessToken: secret))
            }
            try await store.put(userID: "u_1", provider: "gmail", credential: Credential(type: .oauth, accessToken: "at-1"))
            let wanted = [
                ConnectorStore.Lookup(userID: "u_1", provider: "stripe"), ConnectorStore.Lookup(userID: "u_3", provider: "stripe"),
                ConnectorStore.Lookup(userID: "u_1", provider: "gmail"), ConnectorStore.Lookup(userID: "u_2", provider: "gmail"),
                ConnectorStore.Lookup(userID: "u_9", provider: "stripe"), ConnectorStore.Lookup(userID: "stripe", provider: "u_4"),
                // No row can hold a NUL; such a key is not found and does not fail the read for the others.
                ConnectorStore.Lookup(userID: "u_2\u{0}", provider: "stripe"),
            ]
            let rows = try await ConnectorStore.rows(for: wanted, from: pool)
            #expect(Set(rows.keys) == Set(wanted.prefix(3)))
            #expect(try await ConnectorStore.rows(for: [wanted.last!], from: pool).isEmpty)
            #expect(try await store.resolve(userID: "u_5\u{0}", provider: "stripe") == nil)
            for (key, row) in rows {
                #expect(try row.decode(String.self, at: 1) == key.userID && row.decode(String.self, at: 3) == key.provider)
            }
        }
    }

    @Test func concurrentResolvesEachGetTheirOwnConnector() async throws {
        // Far more resolves than the test pool's one lookup slot: most of them are read in batches.
        try await withStore { plainStore, pool, _ in
            let reads = Mutex<[Int]>([])
            let store = ConnectorStore(pool: pool, cipher: plainStore.cipher, observeReads: { count in reads.withLock { $0.append(count) } })
            var secrets: [String: String] = [:]
            for index in 0..<40 {
                let secret = try sampleKey()
                secrets["u_\(index)"] = secret
                try await store.put(userID: "u_\(index)", provider: "stripe", credential: Credential(type: .apiKey, accessToken: secret))
            }
            // One row's ciphertext is another's: only that resolve fails.
            _ = try await pool.query(
                "UPDATE connector_tokens SET access_token = (SELECT access_token FROM connector_tokens WHERE user_id = 'u_0') WHERE user_id = 'u_7'")
            let users = (0..<40).map { "u_\($0)" } + ["u_404", "u_405"]
            let outcomes = await withTaskGroup(of: (String, Result<String?, any Error>).self) { group in
                for _ in 0..<3 {
                    for user in users {
                        group.addTask {
                            do {
                                return (user, .success(try await store.resolve(userID: user, provider: "stripe")?.accessToken))
                            } catch {
                                return (user, .failure(error))
                            }
                        }
                    }
                }
                var outcomes: [(String, Result<String?, any Error>)] = []
                for await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            #expect(outcomes.count == 3 * users.count)
            for (user, outcome) in outcomes {
                switch (user, outcome) {
                case ("u_7", .failure(let error)): #expect((error as? ConnectorError)?.code == .corruptCredential)
                case ("u_404", .success(let token)), ("u_405", .success(let token)): #expect(token == nil)
                case (_, .success(let token)): #expect(token == secrets[user], "\(user)")
                case (_, .failure(let error)): Issue.record("\(user): \(error)")
                }
            }
            // Every key asked for at least once, none twice in one read, and reads of several keys at once.
            let sizes = reads.withLock { $0 }
            #expect(sizes.reduce(0, +) >= users.count && sizes.reduce(0, +) <= outcomes.count)
            #expect(sizes.count < outcomes.count && (sizes.max() ?? 0) > 1, "\(sizes)")
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

    /// Two users whose ids differ only in Unicode normalisation (a precomposed `é` against `e` and a combining
    /// accent) are two users, as PostgreSQL sees them: resolved concurrently through one lookup slot, where reads
    /// are batched, each gets only their own key.
    @Test func usersWhoseIDsDifferOnlyInNormalisationNeverGetEachOthersKeys() async throws {
        let precomposed = "jos\u{E9}"
        let decomposed = "jose\u{301}"
        #expect(precomposed == decomposed)  // Swift's String equality: why keys must compare bytes
        try await withStore { store, _, _ in
            // Pairs, not a dictionary: a Swift dictionary would take the two ids for one key.
            let keys = [(precomposed, try sampleKey()), (decomposed, try sampleKey())]
            for (user, key) in keys {
                try await store.put(userID: user, provider: "stripe", credential: Credential(type: .apiKey, accessToken: key))
            }
            var answered = 0
            var wrong = 0
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<800 {
                    let user = index % 2 == 0 ? precomposed : decomposed
                    let expected = keys.first { $0.0.utf8.elementsEqual(user.utf8) }?.1
                    group.addTask {
                        let resolved = try await store.resolve(userID: user, provider: "stripe")
                        return resolved?.accessToken == expected && (resolved?.record.userID.utf8.elementsEqual(user.utf8) ?? false)
                    }
                }
                for try await right in group {
                    answered += 1
                    if !right { wrong += 1 }
                }
            }
            #expect(answered == 800)
            #expect(wrong == 0)
        }
    }

    /// Re-enabling gives a connector back the status it had before it was disabled: a pending grant's reservation
    /// or a connector that needs a new grant does not come back connected, and one without a credential never
    /// resolves.
    @Test func reenablingRestoresTheStatusBeforeDisabling() async throws {
        try await withStore { store, pool, _ in
            let resolver = Resolver(store: store)
            let pendingID = try await store.reservePending(userID: "u_1", workspaceID: nil, provider: "github")
            let reauth = try await store.put(
                userID: "u_1", provider: "gmail", credential: Credential(type: .oauth, accessToken: "at-1", refreshToken: "rt-1"))
            _ = try await pool.query("UPDATE connector_tokens SET status = 'needs_reauth' WHERE id = \(reauth.id)")
            let working = try await store.put(userID: "u_1", provider: "stripe", credential: Credential(type: .apiKey, accessToken: try sampleKey()))
            for id in [pendingID, reauth.id, working.id] {
                #expect(try await store.update(userID: "u_1", reference: id, change: .init(enabled: false))?.status == .disabled)
                // Disabling twice keeps the status it had first.
                #expect(try await store.update(userID: "u_1", reference: id, change: .init(enabled: false))?.status == .disabled)
            }
            #expect(try await store.update(userID: "u_1", reference: pendingID, change: .init(enabled: true))?.status == .pending)
            #expect(try await store.update(userID: "u_1", reference: reauth.id, change: .init(enabled: true))?.status == .needsReauth)
            #expect(try await store.update(userID: "u_1", reference: working.id, change: .init(enabled: true))?.status == .connected)
            await #expect(throws: ConnectorError.self) { try await resolver.resolve(userID: "u_1", provider: "github", minValidSeconds: 0) }
            await #expect(throws: ConnectorError.self) { try await resolver.resolve(userID: "u_1", provider: "gmail", minValidSeconds: 0) }
            #expect(try await resolver.resolve(userID: "u_1", provider: "stripe", minValidSeconds: 0).record.id == working.id)
            // A row marked connected by hand without a credential is still not a credential.
            _ = try await pool.query("UPDATE connector_tokens SET status = 'connected' WHERE id = \(pendingID)")
            do {
                _ = try await resolver.resolve(userID: "u_1", provider: "github", minValidSeconds: 0)
                Issue.record("a connector without a credential resolved")
            } catch let error as ConnectorError {
                #expect(error.code == .notConnected)
            }
        }
    }
}

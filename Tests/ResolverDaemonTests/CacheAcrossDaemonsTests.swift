import Connectors
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PGClient
import PGTestSupport
import ResolverCrypto
import ServiceLifecycle
import Testing
@testable import ResolverDaemon

/// Two daemons on one database, each with its own pool, cache and change listener: a change made through one
/// is never served stale by the other for longer than the notification takes (bounded here at one second, for
/// a loaded CI machine; it is milliseconds when quiet).
@Suite(.enabled(if: TestDatabase.isConfigured)) struct CacheAcrossDaemonsTests {
    @Test func aDeletedOrReplacedCredentialIsNotServedStale() async throws {
        try await TestDatabase.withSchema { pool, configuration in
            try await ConnectorsSchema.migrator().migrate(on: pool)
            let keyring = try Keyring(keys: ["k1": SymmetricKey(size: .bits256)])
            let token = try DaemonHarness.servicesToken()
            let tokens = try ServicesTokens(parsing: "gateway \(token)", source: "test")
            let otherPool = PGConnectionPool(configuration: PGPoolConfiguration(connection: configuration))
            let one = ResolverRuntime(pool: pool, keyring: keyring, tokens: ServicesTokenBox(tokens, path: nil), logger: Logger(label: "one"))
            let two = ResolverRuntime(pool: otherPool, keyring: keyring, tokens: ServicesTokenBox(tokens, path: nil), logger: Logger(label: "two"))

            let first = try DaemonHarness.sampleKey()
            try await one.store.put(userID: "u_1", provider: "stripe", credential: Credential(type: .apiKey, accessToken: first))
            let body = #"{"provider": "stripe", "user_id": "u_1"}"#
            // Daemon two runs as `serve` runs it: its cache serves once its invalidator listens.
            try await two.withDaemon { client, _ in
                // Warm daemon two's cache (it serves once its listener listens).
                let clock = ContinuousClock()
                let deadline = clock.now + .seconds(5)
                while two.cache.count == 0 && clock.now < deadline {
                    _ = try await client.resolve(body, token: token)
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(two.cache.count == 1)
                #expect(try await client.resolve(body, token: token).object["access_token"] as? String == first)

                // Replace through daemon one: two serves the new key within the notification delay.
                let second = try DaemonHarness.sampleKey()
                try await one.store.put(userID: "u_1", provider: "stripe", credential: Credential(type: .apiKey, accessToken: second))
                var replacedAfter: Duration?
                let replaced = clock.now
                while replacedAfter == nil && clock.now < replaced + .seconds(2) {
                    if try await client.resolve(body, token: token).object["access_token"] as? String == second {
                        replacedAfter = replaced.duration(to: clock.now)
                    }
                }
                #expect(replacedAfter != nil && replacedAfter! < .seconds(1), "\(String(describing: replacedAfter))")

                // Delete through daemon one: two stops serving it within the notification delay.
                try await one.store.delete(userID: "u_1", reference: "stripe")
                var goneAfter: Duration?
                let deleted = clock.now
                while goneAfter == nil && clock.now < deleted + .seconds(2) {
                    if try await client.resolve(body, token: token).status == .notFound { goneAfter = deleted.duration(to: clock.now) }
                }
                #expect(goneAfter != nil && goneAfter! < .seconds(1), "\(String(describing: goneAfter))")
            }
            await otherPool.shutdown()
        }
    }
}

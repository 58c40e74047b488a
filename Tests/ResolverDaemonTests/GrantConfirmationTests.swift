import Connectors
import Foundation
import HTTPTypes
import HummingbirdTesting
import PGClient
import PGTestSupport
import ProviderFakes
import RefreshScheduler
import Testing
import Timekeeping
@testable import ResolverDaemon

/// `oauth.require_confirmation`: a callback holds the tokens until the user who started the grant confirms it;
/// another user's confirmation, or none in time, discards and revokes them.
@Suite(.enabled(if: TestDatabase.isConfigured)) struct GrantConfirmationTests {
    /// Starts a grant for `key`, approves it at the fake and calls back as a browser: the callback's redirect query.
    func heldGrant(_ harness: ConnectorsHarness, _ client: DaemonClient, key: String) async throws -> [String: String] {
        let redirect = ConnectorsHarness.returnURL.addingPercentEncoding(withAllowedCharacters: .urlUnreserved) ?? ""
        let started = try await client.api(.get, "/api/oauth/fake_oauth/authorize?redirect_uri=\(redirect)", bearer: key)
        #expect(started.status == .ok, "\(started.text)")
        let back = try await harness.approve(try #require(started.object["auth_url"] as? String))
        var components = URLComponents()
        components.queryItems = back.sorted(by: { $0.key < $1.key }).map { URLQueryItem(name: $0.key, value: $0.value) }
        let callback = try await client.api(
            .get, "/api/oauth/fake_oauth/callback?\(components.percentEncodedQuery ?? "")", bearer: nil, headers: [.accept: "text/html"])
        #expect(callback.status == .found, "\(callback.text)")
        let location = try #require(callback.headers[.location])
        #expect(location.hasPrefix(ConnectorsHarness.returnURL + "?"))
        return ConnectorsHarness.query(of: location)
    }

    func resolveStatus(_ harness: ConnectorsHarness, _ client: DaemonClient, user: String) async throws -> HTTPResponse.Status {
        try await client.resolve(#"{"provider": "fake_oauth", "user_id": "\#(user)"}"#, token: harness.daemon.gatewayToken).status
    }

    @Test func onlyTheUserWhoStartedTheGrantCanConfirmIt() async throws {
        try await ConnectorsHarness.with(requireConfirmation: true) { harness in
            let attacker = try await harness.apiKey(for: "u_attacker")
            let victim = try await harness.apiKey(for: "u_victim")
            try await harness.daemon.withAPI { client in
                // The attacker's grant, consented to by the victim: the victim's web app gets the code and confirms it
                // as the victim. Nothing is stored for anyone, and the tokens are revoked at the provider.
                let stolen = try await heldGrant(harness, client, key: attacker)
                let code = try #require(stolen["grant"])
                #expect(stolen["provider"] == "fake_oauth" && stolen["connected"] == nil)
                #expect(try await resolveStatus(harness, client, user: "u_attacker") == .notFound)
                let wrongUser = try await client.api(.post, "/api/oauth/fake_oauth/confirm", bearer: victim, json: #"{"grant": "\#(code)"}"#)
                #expect(wrongUser.status == .notFound && wrongUser.errorCode == "unknown_grant", "\(wrongUser.text)")
                #expect(harness.oauth.counters.revocations == 1)
                let retried = try await client.api(.post, "/api/oauth/fake_oauth/confirm", bearer: attacker, json: #"{"grant": "\#(code)"}"#)
                #expect(retried.status == .notFound, "the code is single use, whoever tries it")
                #expect(try await resolveStatus(harness, client, user: "u_attacker") == .notFound)
                #expect(try await harness.daemon.runtime.store.find(userID: "u_attacker", reference: "fake_oauth")?.status == .failed)

                // The user's own grant, confirmed by the same user: connected.
                let own = try await heldGrant(harness, client, key: victim)
                let confirmed = try await client.api(
                    .post, "/api/oauth/fake_oauth/confirm", bearer: victim, json: #"{"grant": "\#(try #require(own["grant"]))"}"#)
                #expect(confirmed.status == .ok && confirmed.object["status"] as? String == "connected", "\(confirmed.text)")
                #expect(try await resolveStatus(harness, client, user: "u_victim") == .ok)
                #expect(!confirmed.text.contains(try #require(own["grant"])))
            }
        }
    }

    @Test func aGrantNotConfirmedInTimeIsRevokedAndOldGrantsAreDeleted() async throws {
        // The confirmation's lifetime and the grants' retention on a manual clock: no waiting on the wall clock.
        let time = ManualTime()
        try await ConnectorsHarness.with(requireConfirmation: true, time: time) { harness in
            let key = try await harness.apiKey(for: "u_late")
            try await harness.daemon.withAPI { client in
                let held = try await heldGrant(harness, client, key: key)
                let scheduler = harness.daemon.runtime.scheduler
                // Still waiting: housekeeping leaves it.
                await scheduler.housekeep()
                #expect(harness.oauth.counters.revocations == 0)
                // Eleven minutes on, nobody confirmed: revoked, and the connector says the grant failed.
                time.advance(by: .seconds(11 * 60))
                await scheduler.housekeep()
                #expect(harness.oauth.counters.revocations == 1)
                #expect(try await harness.daemon.runtime.store.find(userID: "u_late", reference: "fake_oauth")?.status == .failed)
                let late = try await client.api(
                    .post, "/api/oauth/fake_oauth/confirm", bearer: key, json: #"{"grant": "\#(try #require(held["grant"]))"}"#)
                #expect(late.status == .notFound)
                // A day later the grant rows are gone.
                let before = try await harness.daemon.pool.query("SELECT count(*)::bigint FROM connector_grants")[0].decode(Int64.self, at: 0)
                #expect(before == 1)
                time.advance(by: .seconds(2 * 86_400))
                await scheduler.housekeep()
                let after = try await harness.daemon.pool.query("SELECT count(*)::bigint FROM connector_grants")[0].decode(Int64.self, at: 0)
                #expect(after == 0)
            }
        }
    }

    @Test func aClientThatIsNotABrowserIsToldWhatToConfirm() async throws {
        try await ConnectorsHarness.with(requireConfirmation: true) { harness in
            let key = try await harness.apiKey(for: "u_api_client")
            try await harness.daemon.withAPI { client in
                let started = try await client.api(.get, "/api/oauth/fake_oauth/authorize", bearer: key)
                let back = try await harness.approve(try #require(started.object["auth_url"] as? String))
                var components = URLComponents()
                components.queryItems = back.sorted(by: { $0.key < $1.key }).map { URLQueryItem(name: $0.key, value: $0.value) }
                let held = try await client.api(.get, "/api/oauth/fake_oauth/callback?\(components.percentEncodedQuery ?? "")", bearer: nil)
                #expect(held.status == .ok, "\(held.text)")
                #expect(Set(held.object.keys) == ["confirmation_required", "provider", "grant", "connector_id", "confirm_by"])
                #expect(held.object["confirmation_required"] as? Bool == true && held.object["confirm_by"] is String)
            }
        }
    }

    @Test func withoutTheSettingTheCallbackConnectsAtOnce() async throws {
        try await ConnectorsHarness.with { harness in
            let key = try await harness.apiKey(for: "u_plain")
            try await harness.daemon.withAPI { client in
                let back = try await heldGrant(harness, client, key: key)
                #expect(back["connected"] == "true" && back["grant"] == nil)
                #expect(try await resolveStatus(harness, client, user: "u_plain") == .ok)
            }
        }
    }
}

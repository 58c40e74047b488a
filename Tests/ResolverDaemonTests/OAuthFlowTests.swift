import Connectors
import Foundation
import HTTPTypes
import HummingbirdTesting
import PGClient
import PGTestSupport
import ProviderFakes
import Testing
@testable import ResolverDaemon

/// The OAuth code flow against a fake authorization server on loopback, through to a resolve.
@Suite(.enabled(if: TestDatabase.isConfigured)) struct OAuthFlowTests {
    /// Starts a grant for `user` and returns the authorize answer.
    func authorize(_ client: DaemonClient, key: String, query: String = "") async throws -> [String: Any] {
        let response = try await client.api(.get, "/api/oauth/fake_oauth/authorize\(query)", bearer: key)
        #expect(response.status == .ok, "\(response.text)")
        return response.object
    }

    func callback(_ client: DaemonClient, _ query: [String: String], provider: String = "fake_oauth", html: Bool = false) async throws
        -> HTTPAnswer
    {
        var components = URLComponents()
        components.queryItems = query.sorted(by: { $0.key < $1.key }).map { URLQueryItem(name: $0.key, value: $0.value) }
        let headers: HTTPFields = html ? [.accept: "text/html,application/xhtml+xml"] : [:]
        return try await client.api(.get, "/api/oauth/\(provider)/callback?\(components.percentEncodedQuery ?? "")", bearer: nil, headers: headers)
    }

    @Test func theWholeCodeFlowEndsInAResolvableConnector() async throws {
        try await ConnectorsHarness.with { harness in
            let key = try await harness.apiKey(for: "u_flow")
            try await harness.daemon.withAPI { client in
                let started = try await authorize(client, key: key)
                let authURL = try #require(started["auth_url"] as? String)
                let connectorID = try #require(started["connector_id"] as? String)
                #expect(Set(started.keys) == ["auth_url", "connector_id", "state_expires_at"])
                #expect(authURL.hasPrefix(harness.oauth.baseURL + "/authorize?"))
                let sent = ConnectorsHarness.query(of: authURL)
                #expect(
                    sent["code_challenge_method"] == "S256" && sent["redirect_uri"] == "https://resolverd.example.test/api/oauth/fake_oauth/callback")
                // While the user is at the provider, the connector is pending.
                let pending = try await client.api(.get, "/api/connectors/\(connectorID)", bearer: key)
                #expect(pending.object["status"] as? String == "pending")

                let back = try await harness.approve(authURL)
                #expect(back["state"] == sent["state"])
                let done = try await callback(client, back)
                #expect(done.status == .ok, "\(done.text)")
                #expect(done.object["connected"] as? Bool == true)
                #expect(done.object["account_name"] as? String == harness.oauth.configuration.accountName)
                #expect(done.object["connector_id"] as? String == connectorID)
                #expect(Set(done.object.keys) == ["connected", "provider", "account_name", "connector_id"])
                #expect(harness.oauth.counters.authorizationCodeExchanges == 1)

                let connected = try await client.api(.get, "/api/connectors/\(connectorID)", bearer: key)
                #expect(connected.object["status"] as? String == "connected")
                #expect(connected.object["account"] as? String == harness.oauth.configuration.accountName)
                #expect(connected.object["expires_at"] is String)
                // The token the provider issued is what the gateway gets.
                let resolved = try await client.resolve(#"{"provider": "fake_oauth", "user_id": "u_flow"}"#, token: harness.daemon.gatewayToken)
                #expect(resolved.status == .ok)
                let token = try #require(resolved.object["access_token"] as? String)
                #expect(harness.oauth.isValid(accessToken: token))
                // Nothing secret in the connectors API's answers.
                #expect(!connected.text.contains(token) && !done.text.contains(token))
            }
            #expect(!harness.daemon.logs.text.contains(harness.oauth.configuration.clientSecret))
        }
    }

    /// An `expires_in` of 10^17 seconds (a string, so past the JSON number guard) once trapped the process at the
    /// callback; the lifetime is clamped to ten years and the grant is stored.
    @Test func aCallbackWithAnAbsurdLifetimeStoresAClampedExpiry() async throws {
        try await ConnectorsHarness.with(oauthConfiguration: .init(tokenAnswerExtras: ["expires_in": "100000000000000000"])) { harness in
            let key = try await harness.apiKey(for: "u_forever")
            try await harness.daemon.withAPI { client in
                let started = try await authorize(client, key: key)
                let back = try await harness.approve(try #require(started["auth_url"] as? String))
                let done = try await callback(client, back)
                #expect(done.status == .ok, "\(done.text)")
                let record = try #require(try await harness.daemon.runtime.store.find(userID: "u_forever", reference: "fake_oauth"))
                let years = (record.expiresAt ?? .distantPast).timeIntervalSinceNow / 31_536_000
                #expect(years > 9 && years <= 10.01)
            }
        }
    }

    @Test func everyStateFailureIsRefusedAndStoresNothing() async throws {
        try await ConnectorsHarness.with { harness in
            let key = try await harness.apiKey(for: "u_state")
            try await harness.daemon.withAPI { client in
                // Unknown and missing state.
                let unknown = try await callback(client, ["code": "abc", "state": "not-a-state"])
                #expect(unknown.status == .badRequest && unknown.errorCode == "invalid_state")
                let missing = try await callback(client, ["code": "abc"])
                #expect(missing.status == .badRequest && missing.errorCode == "invalid_request")

                // A state used twice: the second use fails even though the first succeeded.
                let first = try await harness.approve(try #require(try await authorize(client, key: key)["auth_url"] as? String))
                #expect(try await callback(client, first).status == .ok)
                let reused = try await callback(client, first)
                #expect(reused.status == .badRequest && reused.errorCode == "invalid_state")
                #expect(harness.oauth.counters.authorizationCodeExchanges == 1)

                // A state issued for another provider.
                let other = try await harness.approve(try #require(try await authorize(client, key: key)["auth_url"] as? String))
                let crossed = try await callback(client, other, provider: "gmail")
                #expect(crossed.status == .badRequest && crossed.errorCode == "invalid_state")
                #expect(try await callback(client, other).errorCode == "invalid_state")

                // An expired state.
                let late = try await harness.approve(try #require(try await authorize(client, key: key)["auth_url"] as? String))
                _ = try await harness.daemon.pool.query(
                    "UPDATE connector_grants SET expires_at = now() - interval '1 second' WHERE status = 'pending'")
                let expired = try await callback(client, late)
                #expect(expired.status == .badRequest && expired.errorCode == "invalid_state")
                #expect(harness.oauth.counters.authorizationCodeExchanges == 1)
            }
        }
    }

    @Test func aPKCEMismatchFailsTheGrantAtTheProvider() async throws {
        try await ConnectorsHarness.with { harness in
            let key = try await harness.apiKey(for: "u_pkce")
            try await harness.daemon.withAPI { client in
                let started = try await authorize(client, key: key)
                let authURL = try #require(started["auth_url"] as? String)
                let connectorID = try #require(started["connector_id"] as? String)
                // Someone swaps the challenge on the way to the provider: the verifier resolverd holds no longer matches.
                var components = try #require(URLComponents(string: authURL))
                components.queryItems = components.queryItems?.map {
                    $0.name == "code_challenge" ? URLQueryItem(name: $0.name, value: String(repeating: "A", count: 43)) : $0
                }
                let back = try await harness.approve(try #require(components.url?.absoluteString))
                let failed = try await callback(client, back)
                #expect(failed.status == .badGateway && failed.errorCode == "provider_error")
                #expect(failed.text.contains("invalid_grant"))
                let status = try await client.api(.get, "/api/connectors/\(connectorID)", bearer: key)
                #expect(status.object["status"] as? String == "failed")
                let resolved = try await client.resolve(#"{"provider": "fake_oauth", "user_id": "u_pkce"}"#, token: harness.daemon.gatewayToken)
                #expect(resolved.status == .notFound)
            }
        }
    }

    @Test func accessDeniedMarksTheGrantFailedAndRedirectsWhenAsked() async throws {
        try await ConnectorsHarness.with { harness in
            let key = try await harness.apiKey(for: "u_deny")
            try await harness.daemon.withAPI { client in
                let returnTo = ConnectorsHarness.returnURL.addingPercentEncoding(withAllowedCharacters: .urlUnreserved)!
                let started = try await authorize(client, key: key, query: "?redirect_uri=\(returnTo)")
                harness.oauth.denyNextAuthorization()
                let back = try await harness.approve(try #require(started["auth_url"] as? String))
                #expect(back["error"] == "access_denied")
                let answer = try await callback(client, back, html: true)
                #expect(answer.status == .found)
                let location = try #require(answer.headers[.location])
                #expect(location.hasPrefix(ConnectorsHarness.returnURL + "?") && location.contains("error=access_denied"))
                let status = try await client.api(.get, "/api/connectors/\(try #require(started["connector_id"] as? String))", bearer: key)
                #expect(status.object["status"] as? String == "failed")
                #expect(harness.oauth.counters.authorizationCodeExchanges == 0)

                // The same with JSON: a clear error.
                harness.oauth.denyNextAuthorization()
                let again = try await harness.approve(try #require(try await authorize(client, key: key)["auth_url"] as? String))
                let json = try await callback(client, again)
                #expect(json.status == .badRequest && json.errorCode == "access_denied")
            }
        }
    }

    @Test func aRedirectMustBeOnTheAllowList() async throws {
        try await ConnectorsHarness.with { harness in
            let key = try await harness.apiKey(for: "u_redirect")
            try await harness.daemon.withAPI { client in
                for bad in [
                    "https://evil.example.test/connectors/done", "https://app.example.test/connectors/other",
                    "http://app.example.test/connectors/done", "https://app.example.test:8443/connectors/done",
                    "https://app.example.test/connectors/done#x", "not a url",
                ] {
                    let encoded = bad.addingPercentEncoding(withAllowedCharacters: .urlUnreserved)!
                    let refused = try await client.api(.get, "/api/oauth/fake_oauth/authorize?redirect_uri=\(encoded)", bearer: key)
                    #expect(refused.status == .badRequest && refused.errorCode == "redirect_not_allowed", "\(bad)")
                }
                // An allowed one with its own query, and the browser comes back to it connected.
                let allowed = (ConnectorsHarness.returnURL + "?tab=connectors").addingPercentEncoding(withAllowedCharacters: .urlUnreserved)!
                let started = try await authorize(client, key: key, query: "?redirect_uri=\(allowed)")
                let back = try await harness.approve(try #require(started["auth_url"] as? String))
                let answer = try await callback(client, back, html: true)
                #expect(answer.status == .found)
                #expect(answer.headers[.location] == ConnectorsHarness.returnURL + "?tab=connectors&connected=true&provider=fake_oauth")
            }
        }
    }

    @Test func deleteRevokesAtTheProviderAndTheTokenNoLongerResolves() async throws {
        try await ConnectorsHarness.with { harness in
            let key = try await harness.apiKey(for: "u_delete")
            try await harness.daemon.withAPI { client in
                let back = try await harness.approve(try #require(try await authorize(client, key: key)["auth_url"] as? String))
                #expect(try await callback(client, back).status == .ok)
                let resolved = try await client.resolve(#"{"provider": "fake_oauth", "user_id": "u_delete"}"#, token: harness.daemon.gatewayToken)
                let token = try #require(resolved.object["access_token"] as? String)

                let deleted = try await client.api(.delete, "/api/connectors/fake_oauth", bearer: key)
                #expect(deleted.status == .ok)
                #expect(deleted.object["deleted"] as? Bool == true && deleted.object["revoked"] as? Bool == true)
                #expect(harness.oauth.counters.revocations == 1)
                #expect(!harness.oauth.isValid(accessToken: token))
                let after = try await client.resolve(#"{"provider": "fake_oauth", "user_id": "u_delete"}"#, token: harness.daemon.gatewayToken)
                #expect(after.status == .notFound)
                #expect(try await client.api(.get, "/api/connectors/fake_oauth", bearer: key).status == .notFound)
            }
        }
    }

    @Test func deleteStillDeletesWhenTheProviderCannotRevoke() async throws {
        try await ConnectorsHarness.with { harness in
            let key = try await harness.apiKey(for: "u_down")
            try await harness.daemon.withAPI { client in
                let back = try await harness.approve(try #require(try await authorize(client, key: key)["auth_url"] as? String))
                #expect(try await callback(client, back).status == .ok)
                harness.oauth.setFault(.serverError(status: 503))
                let deleted = try await client.api(.delete, "/api/connectors/fake_oauth", bearer: key)
                #expect(deleted.status == .ok)
                #expect(deleted.object["deleted"] as? Bool == true && deleted.object["revoked"] as? Bool == false)
                let after = try await client.resolve(#"{"provider": "fake_oauth", "user_id": "u_down"}"#, token: harness.daemon.gatewayToken)
                #expect(after.status == .notFound)
            }
        }
    }
}

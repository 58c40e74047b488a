import Connectors
import Foundation
import HTTPTypes
import HummingbirdTesting
import PGClient
import PGTestSupport
import ProviderFakes
import Testing
@testable import ResolverDaemon

/// The built-in catalog's Shopify, Salesforce and GitHub entries, configured as an operator configures them: each
/// URL is rendered from the catalog and the connector's settings and checked, and only then does `base_url` move
/// the origin to a local fake. The provider client's request log shows the host each request was built for.
@Suite(.enabled(if: TestDatabase.isConfigured)) struct RealProviderPathTests {
    func withFake(_ configuration: FakeOAuthProvider.Configuration, _ body: (FakeOAuthProvider) async throws -> Void) async throws {
        try await FakeOAuthProvider.with(configuration, body)
    }

    /// Authorizes `slug` for `key` with `settings`, approves at the fake and calls back; the callback's answer.
    func connect(
        _ harness: ConnectorsHarness, _ client: DaemonClient, slug: String, key: String, settings: String,
        extraCallback: [String: String] = [:]
    ) async throws -> HTTPAnswer {
        let query = "?settings=" + (settings.addingPercentEncoding(withAllowedCharacters: .urlUnreserved) ?? "")
        let started = try await client.api(.get, "/api/oauth/\(slug)/authorize\(query)", bearer: key)
        #expect(started.status == .ok, "\(started.text)")
        let authURL = try #require(started.object["auth_url"] as? String)
        var back = try await harness.approve(authURL)
        back.merge(extraCallback) { $1 }
        var components = URLComponents()
        components.queryItems = back.sorted(by: { $0.key < $1.key }).map { URLQueryItem(name: $0.key, value: $0.value) }
        return try await client.api(.get, "/api/oauth/\(slug)/callback?\(components.percentEncodedQuery ?? "")", bearer: nil)
    }

    @Test func shopifyExchangesAndRefreshesAtTheShopsOwnHost() async throws {
        try await withFake(.init(clientAuth: .post, requirePKCE: false)) { fake in
            try await ConnectorsHarness.with(catalogProviders: ["shopify": fake]) { harness in
                let key = try await harness.apiKey(for: "u_shop")
                try await harness.daemon.withAPI { client in
                    let done = try await connect(harness, client, slug: "shopify", key: key, settings: #"{"shop": "acme-store"}"#)
                    #expect(done.status == .ok, "\(done.text)")
                    let id = try #require(done.object["connector_id"] as? String)
                    let exchange = try #require(harness.requests.of("shopify", .exchange).first)
                    #expect(exchange.renderedHost == "acme-store.myshopify.com")
                    #expect(exchange.path == "/admin/oauth/access_token")
                    #expect(exchange.targetOrigin == fake.baseURL)

                    let refreshed = try await client.api(.post, "/api/connectors/\(id)/refresh", bearer: key)
                    #expect(refreshed.status == .ok, "\(refreshed.text)")
                    #expect(Set(refreshed.object.keys) == ["refreshed", "expires_at"] && refreshed.object["expires_at"] is String)
                    let refresh = try #require(harness.requests.of("shopify", .refresh).first)
                    #expect(refresh.renderedHost == "acme-store.myshopify.com" && refresh.path == "/admin/oauth/access_token")
                    #expect(fake.counters.authorizationCodeExchanges == 1 && fake.counters.refreshGrants == 1)
                    // The refresh route shares the connector's refresh budget.
                    let again = try await client.api(.post, "/api/connectors/\(id)/refresh", bearer: key)
                    #expect(again.status == .tooManyRequests && again.errorCode == "refresh_budget_spent", "\(again.text)")
                    #expect(Int(again.headers[.retryAfter] ?? "") ?? 0 >= 1)
                    #expect(fake.counters.refreshGrants == 1)
                    let resolved = try await client.resolve(#"{"provider": "shopify", "user_id": "u_shop"}"#, token: harness.daemon.gatewayToken)
                    #expect(fake.isValid(accessToken: try #require(resolved.object["access_token"] as? String)))

                    // A shop that is not one label under myshopify.com is refused before anything is sent.
                    let before = harness.requests.all.count
                    for hostile in [#"{"shop": "evil.example/x"}"#, #"{"shop": "acme.evil"}"#] {
                        let refused = try await client.api(.patch, "/api/connectors/\(id)", bearer: key, json: #"{"settings": \#(hostile)}"#)
                        #expect(refused.status == .unprocessableContent && refused.errorCode == "invalid_settings", "\(refused.text)")
                    }
                    #expect(harness.requests.all.count == before)
                }
            }
        }
    }

    @Test func salesforceCallsOnlyItsLoginHostAndAnInstanceOnItsDomains() async throws {
        let instance = ["instance_url": "https://acme.my.salesforce.com"]
        try await withFake(.init(clientAuth: .post, tokenAnswerExtras: instance)) { fake in
            try await ConnectorsHarness.with(catalogProviders: ["salesforce": fake]) { harness in
                let key = try await harness.apiKey(for: "u_sf")
                try await harness.daemon.withAPI { client in
                    // The operator's client secret never goes to a host the user names.
                    let hostile = try await client.api(
                        .get, "/api/oauth/salesforce/authorize?settings=%7B%22login_host%22%3A%22evil.example%22%7D", bearer: key)
                    #expect(hostile.status == .unprocessableContent && hostile.errorCode == "invalid_settings", "\(hostile.text)")

                    let done = try await connect(
                        harness, client, slug: "salesforce", key: key, settings: #"{"login_host": "acme.my.salesforce.com"}"#)
                    #expect(done.status == .ok, "\(done.text)")
                    #expect(done.object["account_name"] as? String == fake.configuration.accountName)
                    let id = try #require(done.object["connector_id"] as? String)
                    #expect(harness.requests.of("salesforce", .exchange).map(\.renderedHost) == ["acme.my.salesforce.com"])
                    #expect(harness.requests.of("salesforce", .exchange).first?.path == "/services/oauth2/token")
                    // The account read went to the instance the token answer named, checked first.
                    #expect(harness.requests.of("salesforce", .test).map(\.renderedHost) == ["acme.my.salesforce.com"])

                    let refreshed = try await client.api(.post, "/api/connectors/\(id)/refresh", bearer: key)
                    #expect(refreshed.status == .ok, "\(refreshed.text)")
                    #expect(harness.requests.of("salesforce", .refresh).map(\.renderedHost) == ["acme.my.salesforce.com"])

                    let patched = try await client.api(
                        .patch, "/api/connectors/\(id)", bearer: key, json: #"{"settings": {"login_host": "evil.example"}}"#)
                    #expect(patched.status == .unprocessableContent, "\(patched.text)")

                    // A host stored before these checks existed is refused at the call: disconnecting deletes without
                    // sending the refresh token and the client secret there.
                    _ = try await harness.daemon.pool.query(
                        #"UPDATE connector_tokens SET settings = '{"login_host": "evil.example"}' WHERE id = \#(id)"#)
                    let deleted = try await client.api(.delete, "/api/connectors/\(id)", bearer: key)
                    #expect(deleted.status == .ok && deleted.object["revoked"] as? Bool == false, "\(deleted.text)")
                    #expect(harness.requests.all.allSatisfy { $0.renderedHost.hasSuffix(".salesforce.com") })
                    #expect(fake.counters.revocations == 0)
                }
            }
        }
        // An instance_url off Salesforce's domains is not stored, and nothing is called there.
        try await withFake(.init(clientAuth: .post, tokenAnswerExtras: ["instance_url": "https://attacker.example"])) { fake in
            try await ConnectorsHarness.with(catalogProviders: ["salesforce": fake]) { harness in
                let key = try await harness.apiKey(for: "u_sf2")
                try await harness.daemon.withAPI { client in
                    let done = try await connect(harness, client, slug: "salesforce", key: key, settings: "{}")
                    #expect(done.status == .ok, "\(done.text)")
                    let id = try #require(done.object["connector_id"] as? String)
                    let record = try #require(try await harness.daemon.runtime.store.find(userID: "u_sf2", reference: id))
                    #expect(!record.metadataJSON.contains("attacker"))
                    #expect(harness.requests.all.allSatisfy { $0.renderedHost == "login.salesforce.com" })
                }
            }
        }
    }

    @Test func aGitHubInstallationIsTakenOnlyWhenTheUsersOwnTokenListsIt() async throws {
        try await withFake(.init(clientAuth: .post, userInstallations: ["7"])) { fake in
            try await ConnectorsHarness.with(catalogProviders: ["github": fake]) { harness in
                let key = try await harness.apiKey(for: "u_gh")
                try await harness.daemon.withAPI { client in
                    // Another customer's installation id, named at authorize or on the setup redirect: refused.
                    let named = try await connect(harness, client, slug: "github", key: key, settings: #"{"installation_id": "8"}"#)
                    #expect(named.status == .forbidden && named.errorCode == "installation_not_allowed", "\(named.text)")
                    let redirected = try await connect(
                        harness, client, slug: "github", key: key, settings: "{}", extraCallback: ["installation_id": "8"])
                    #expect(redirected.status == .forbidden, "\(redirected.text)")
                    #expect(harness.requests.of("github", .installations).allSatisfy { $0.renderedHost == "api.github.com" })

                    // The user's own installation, from the setup redirect.
                    let own = try await connect(
                        harness, client, slug: "github", key: key, settings: "{}", extraCallback: ["installation_id": "7", "setup_action": "install"])
                    #expect(own.status == .ok, "\(own.text)")
                    let id = try #require(own.object["connector_id"] as? String)
                    let view = try await client.api(.get, "/api/connectors/\(id)", bearer: key)
                    #expect((view.object["settings"] as? [String: Any])?["installation_id"] as? String == "7")

                    // PATCH cannot change it, and a change of other settings keeps it.
                    let changed = try await client.api(.patch, "/api/connectors/\(id)", bearer: key, json: #"{"settings": {"installation_id": "8"}}"#)
                    #expect(changed.status == .unprocessableContent, "\(changed.text)")
                    let same = try await client.api(.patch, "/api/connectors/\(id)", bearer: key, json: #"{"settings": {"installation_id": "7"}}"#)
                    #expect(same.status == .ok, "\(same.text)")
                    let cleared = try await client.api(.patch, "/api/connectors/\(id)", bearer: key, json: #"{"settings": {}}"#)
                    #expect((cleared.object["settings"] as? [String: Any])?["installation_id"] as? String == "7", "\(cleared.text)")
                }
            }
        }
    }
}

import Connectors
import Foundation
import HTTPTypes
import HummingbirdTesting
import PGTestSupport
import ProviderFakes
import ResolverCrypto
import Testing
@testable import ResolverDaemon

/// The connectors API: API-key connect against a fake provider, listing, roles, scoping and authentication.
@Suite(.enabled(if: TestDatabase.isConfigured)) struct ConnectorsAPITests {
    func connectStripe(_ client: DaemonClient, bearer: String, key: String, extra: String = "") async throws -> HTTPAnswer {
        try await client.api(.post, "/api/connectors/connect", bearer: bearer, json: #"{"provider": "stripe", "api_key": "\#(key)"\#(extra)}"#)
    }

    @Test func anAPIKeyIsValidatedAtTheProviderBeforeItIsStored() async throws {
        try await ConnectorsHarness.with { harness in
            let user = try await harness.apiKey(for: "u_keys")
            try await harness.daemon.withAPI { client in
                // Rejected by the provider: 422, nothing stored.
                let wrong = try await connectStripe(client, bearer: user, key: try DaemonHarness.sampleKey())
                #expect(wrong.status == .unprocessableContent && wrong.errorCode == "invalid_credentials")
                // The provider cannot tell (5xx, then too slow): 502, nothing stored.
                harness.apiKeys.setFault(.serverError(status: 503))
                let down = try await connectStripe(client, bearer: user, key: harness.goodKey)
                #expect(down.status == .badGateway && down.errorCode == "provider_unavailable")
                harness.apiKeys.setFault(.slow(.seconds(4)))
                let slow = try await connectStripe(client, bearer: user, key: harness.goodKey)
                #expect(slow.status == .badGateway && slow.errorCode == "provider_unavailable")
                harness.apiKeys.setFault(.none)
                let none = try await client.api(.get, "/api/connectors/list", bearer: user)
                #expect((none.object["connections"] as? [Any])?.isEmpty == true)

                // Accepted: stored, with the check recorded, and resolvable by the gateway.
                let good = try await connectStripe(client, bearer: user, key: harness.goodKey, extra: #", "role": "primary_data_source""#)
                #expect(good.status == .created, "\(good.text)")
                #expect(good.object["status"] as? String == "connected" && good.object["health"] as? String == "ok")
                #expect(good.object["role"] as? String == "primary_data_source")
                #expect(!good.text.contains(harness.goodKey))
                let resolved = try await client.resolve(#"{"provider": "stripe", "user_id": "u_keys"}"#, token: harness.daemon.gatewayToken)
                #expect(resolved.object["access_token"] as? String == harness.goodKey)

                // Not an API-key provider; unknown provider; settings a provider needs.
                let oauthOnly = try await client.api(.post, "/api/connectors/connect", bearer: user, json: #"{"provider": "gmail", "api_key": "x"}"#)
                #expect(oauthOnly.status == .unprocessableContent && oauthOnly.errorCode == "not_api_key_provider")
                let unknown = try await client.api(.post, "/api/connectors/connect", bearer: user, json: #"{"provider": "nope", "api_key": "x"}"#)
                #expect(unknown.status == .notFound && unknown.errorCode == "unknown_provider")
                let zendesk = try await client.api(.post, "/api/connectors/connect", bearer: user, json: #"{"provider": "zendesk", "api_key": "x"}"#)
                #expect(zendesk.status == .unprocessableContent && zendesk.errorCode == "invalid_settings")
            }
            #expect(!harness.daemon.logs.text.contains(harness.goodKey))
        }
    }

    @Test func badBodiesGetClearErrorsAndChangeNothing() async throws {
        try await ConnectorsHarness.with { harness in
            let user = try await harness.apiKey(for: "u_bodies")
            try await harness.daemon.withAPI { client in
                for body in ["{", "[]", #"{"provider": "stripe"}"#, #"{"provider": 3, "api_key": "x"}"#, #"{"provider": "stripe", "api_key": ""}"#] {
                    let answer = try await client.api(.post, "/api/connectors/connect", bearer: user, json: body)
                    #expect(answer.status == .badRequest && answer.errorCode == "invalid_request", "\(body)")
                }
                let huge = #"{"provider": "stripe", "api_key": "\#(String(repeating: "k", count: 70_000))"}"#
                #expect(try await client.api(.post, "/api/connectors/connect", bearer: user, json: huge).status == .contentTooLarge)
                #expect(try await connectStripe(client, bearer: user, key: harness.goodKey).status == .created)
                let emptyPatch = try await client.api(.patch, "/api/connectors/stripe", bearer: user, json: "{}")
                #expect(emptyPatch.status == .badRequest)
                let badRole = try await client.api(.patch, "/api/connectors/stripe", bearer: user, json: #"{"role": "owner"}"#)
                #expect(badRole.status == .badRequest)
                let bigSettings = #"{"settings": {"note": "\#(String(repeating: "n", count: 20_000))"}}"#
                let tooBig = try await client.api(.patch, "/api/connectors/stripe", bearer: user, json: bigSettings)
                #expect(tooBig.status == .unprocessableContent && tooBig.errorCode == "invalid_settings")
                let refresh = try await client.api(.post, "/api/connectors/stripe/refresh", bearer: user)
                #expect(refresh.status == .conflict && refresh.errorCode == "not_refreshable")
            }
        }
    }

    @Test func listsPageStablyAndFilter() async throws {
        try await ConnectorsHarness.with { harness in
            let user = try await harness.apiKey(for: "u_list")
            let store = harness.daemon.runtime.store
            let providers = ["stripe", "posthog", "klaviyo", "vercel", "railway", "figma", "gmail"]
            for provider in providers {
                try await store.put(
                    userID: "u_list", provider: provider, credential: Credential(type: .apiKey, accessToken: try DaemonHarness.sampleKey()))
            }
            try await store.put(
                userID: "u_other", provider: "stripe", credential: Credential(type: .apiKey, accessToken: try DaemonHarness.sampleKey()))
            try await harness.daemon.withAPI { client in
                var seen: [String] = []
                var cursor: String?
                var pages = 0
                repeat {
                    let query = "limit=3" + (cursor.map { "&cursor=\($0)" } ?? "")
                    let page = try await client.api(.get, "/api/connectors/list?\(query)", bearer: user)
                    #expect(page.status == .ok)
                    let items = try #require(page.object["connections"] as? [[String: Any]])
                    seen += items.compactMap { $0["provider"] as? String }
                    cursor = page.object["next_cursor"] as? String
                    // Present on every page, null on the last.
                    #expect(Set(page.object.keys) == ["connections", "next_cursor"])
                    pages += 1
                    // A connector added while paging comes after the pages already read, never inside them.
                    if pages == 1 {
                        try await store.put(
                            userID: "u_list", provider: "sanity", credential: Credential(type: .apiKey, accessToken: try DaemonHarness.sampleKey()))
                    }
                } while cursor != nil && pages < 10
                #expect(seen == providers + ["sanity"])
                #expect(pages == 3)

                let bad = try await client.api(.get, "/api/connectors/list?cursor=bm90LWEtY3Vyc29y", bearer: user)
                #expect(bad.status == .badRequest && bad.errorCode == "invalid_request")
                #expect(try await client.api(.get, "/api/connectors/list?limit=0", bearer: user).status == .badRequest)
                #expect(try await client.api(.get, "/api/connectors/list?status=asleep", bearer: user).status == .badRequest)
                #expect(try await client.api(.get, "/api/connectors/list?role=", bearer: user).status == .badRequest)

                let stripe = try await client.api(.get, "/api/connectors/list?provider=stripe", bearer: user)
                #expect((stripe.object["connections"] as? [Any])?.count == 1)
                _ = try await client.api(.patch, "/api/connectors/figma", bearer: user, json: #"{"enabled": false}"#)
                let disabled = try await client.api(.get, "/api/connectors/list?status=disabled", bearer: user)
                #expect(((disabled.object["connections"] as? [[String: Any]])?.map { $0["provider"] as? String }) == ["figma"])
            }
        }
    }

    @Test func aPrimaryRoleIsHeldByOneConnectorOfAWorkspace() async throws {
        try await ConnectorsHarness.with { harness in
            let user = try await harness.apiKey(for: "u_roles", workspace: "w_1")
            let store = harness.daemon.runtime.store
            for provider in ["stripe", "posthog"] {
                try await store.put(
                    userID: "u_roles", workspaceID: "w_1", provider: provider,
                    credential: Credential(type: .apiKey, accessToken: try DaemonHarness.sampleKey()))
            }
            try await store.put(
                userID: "u_roles", workspaceID: "w_2", provider: "klaviyo",
                credential: Credential(type: .apiKey, accessToken: try DaemonHarness.sampleKey()))
            try await harness.daemon.withAPI { client in
                for provider in ["stripe", "klaviyo", "posthog"] {
                    let set = try await client.api(.patch, "/api/connectors/\(provider)", bearer: user, json: #"{"role": "primary_data_source"}"#)
                    #expect(set.status == .ok && set.object["role"] as? String == "primary_data_source")
                }
                let list = try await client.api(.get, "/api/connectors/list?role=primary_data_source", bearer: user)
                let holders = Set(((list.object["connections"] as? [[String: Any]]) ?? []).compactMap { $0["provider"] as? String })
                // posthog took it from stripe in w_1; klaviyo holds it in w_2.
                #expect(holders == ["posthog", "klaviyo"])
                let cleared = try await client.api(
                    .patch, "/api/connectors/posthog", bearer: user, json: #"{"role": null, "settings": {"host": "eu.posthog.com"}}"#)
                #expect(cleared.object["role"] is NSNull)
                #expect((cleared.object["settings"] as? [String: Any])?["host"] as? String == "eu.posthog.com")
            }
        }
    }

    @Test func anotherUsersConnectorIsNotFound() async throws {
        try await ConnectorsHarness.with { harness in
            let mallory = try await harness.apiKey(for: "u_mallory")
            let record = try await harness.daemon.runtime.store.put(
                userID: "u_alice", provider: "stripe", credential: Credential(type: .apiKey, accessToken: harness.goodKey))
            try await harness.daemon.withAPI { client in
                for (method, path) in [
                    (HTTPRequest.Method.get, "/api/connectors/\(record.id)"), (.get, "/api/connectors/stripe"),
                    (.post, "/api/connectors/\(record.id)/test"), (.delete, "/api/connectors/\(record.id)"),
                ] {
                    let answer = try await client.api(method, path, bearer: mallory)
                    #expect(answer.status == .notFound && answer.errorCode == "not_found", "\(method) \(path)")
                }
                let patch = try await client.api(.patch, "/api/connectors/\(record.id)", bearer: mallory, json: #"{"enabled": false}"#)
                #expect(patch.status == .notFound)
                let list = try await client.api(.get, "/api/connectors/list", bearer: mallory)
                #expect((list.object["connections"] as? [Any])?.isEmpty == true)
            }
            #expect(try await harness.daemon.runtime.store.find(userID: "u_alice", reference: "stripe")?.status == .connected)
        }
    }

    @Test func aServicesTokenLimitedToSomeProvidersActsOnThoseOnly() async throws {
        try await ConnectorsHarness.with { harness in
            // `limited` may act on stripe and posthog only, for whichever user it names.
            let store = harness.daemon.runtime.store
            let stripe = try await store.put(userID: "u_svc", provider: "stripe", credential: Credential(type: .apiKey, accessToken: harness.goodKey))
            let klaviyo = try await store.put(
                userID: "u_svc", provider: "klaviyo", credential: Credential(type: .apiKey, accessToken: try DaemonHarness.sampleKey()))
            let headers: HTTPFields = [ServicesTokenHeader.name: harness.daemon.limitedToken, UserAuthenticator.userField: "u_svc"]
            try await harness.daemon.withAPI { client in
                let list = try await client.api(.get, "/api/connectors/list", bearer: nil, headers: headers)
                #expect(list.status == .ok)
                #expect((list.object["connections"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [stripe.id])
                let filtered = try await client.api(.get, "/api/connectors/list?provider=klaviyo", bearer: nil, headers: headers)
                #expect(filtered.status == .forbidden && filtered.errorCode == "forbidden")
                let own = try await client.api(.get, "/api/connectors/\(stripe.id)", bearer: nil, headers: headers)
                #expect(own.status == .ok)
                for (method, path) in [
                    (HTTPRequest.Method.get, "/api/connectors/\(klaviyo.id)"), (.get, "/api/connectors/klaviyo"),
                    (.post, "/api/connectors/\(klaviyo.id)/test"), (.post, "/api/connectors/\(klaviyo.id)/refresh"),
                    (.delete, "/api/connectors/\(klaviyo.id)"), (.get, "/api/oauth/fake_oauth/authorize"),
                ] {
                    let answer = try await client.api(method, path, bearer: nil, headers: headers)
                    #expect(answer.status == .forbidden && answer.errorCode == "forbidden", "\(method) \(path): \(answer.status)")
                }
                let patch = try await client.api(.patch, "/api/connectors/\(klaviyo.id)", bearer: nil, json: #"{"enabled": false}"#, headers: headers)
                #expect(patch.status == .forbidden)
                let connect = try await client.api(
                    .post, "/api/connectors/connect", bearer: nil, json: #"{"provider": "klaviyo", "api_key": "\#(harness.goodKey)"}"#,
                    headers: headers)
                #expect(connect.status == .forbidden)
                // The gateway's unrestricted token sees both.
                let gateway: HTTPFields = [ServicesTokenHeader.name: harness.daemon.gatewayToken, UserAuthenticator.userField: "u_svc"]
                let all = try await client.api(.get, "/api/connectors/list", bearer: nil, headers: gateway)
                #expect((all.object["connections"] as? [Any])?.count == 2)
            }
            #expect(try await store.find(userID: "u_svc", reference: "klaviyo")?.status == .connected)
            #expect(try await store.find(userID: "u_svc", reference: "klaviyo")?.id == klaviyo.id)
        }
    }

    @Test func credentialsAreCheckedOnEveryRequest() async throws {
        try await ConnectorsHarness.with { harness in
            let (key, secret) = try await harness.daemon.runtime.connectors.apiKeys.create(userID: "u_auth", workspaceID: nil, name: "t")
            TestSecrets.shared.given(secret)
            try await harness.daemon.withAPI { client in
                #expect(try await client.api(.get, "/api/connectors/list", bearer: secret).status == .ok)
                #expect(try await client.api(.get, "/api/connectors/list", bearer: nil).status == .unauthorized)
                #expect(
                    try await client.api(.get, "/api/connectors/list", bearer: "tnx_" + String(repeating: "x", count: 43)).status == .unauthorized)
                #expect(try await harness.daemon.runtime.connectors.apiKeys.revoke(id: key.id))
                let revoked = try await client.api(.get, "/api/connectors/list", bearer: secret)
                #expect(revoked.status == .unauthorized && revoked.errorCode == "unauthorized")

                // Session JWTs: valid; expired; signed with another secret; alg none; a different algorithm.
                #expect(try await client.api(.get, "/api/connectors/list", bearer: try harness.session(for: "u_jwt")).status == .ok)
                let expired = try await client.api(.get, "/api/connectors/list", bearer: try harness.session(for: "u_jwt", expiresIn: -600))
                #expect(expired.status == .unauthorized && expired.text.contains("expired"))
                let forged = try harness.session(for: "u_jwt", secret: try DaemonHarness.secret(bytes: 32))
                #expect(try await client.api(.get, "/api/connectors/list", bearer: forged).status == .unauthorized)
                #expect(
                    try await client.api(.get, "/api/connectors/list", bearer: try harness.session(for: "u_jwt", algorithm: "none")).status
                        == .unauthorized)
                #expect(
                    try await client.api(.get, "/api/connectors/list", bearer: try harness.session(for: "u_jwt", algorithm: "HS512")).status
                        == .unauthorized)

                // A services token acts for the user it names, and only with one.
                let acting = try await client.api(
                    .get, "/api/connectors/list", bearer: nil,
                    headers: [ServicesTokenHeader.name: harness.daemon.gatewayToken, UserAuthenticator.userField: "u_auth"])
                #expect(acting.status == .ok)
                let nobody = try await client.api(
                    .get, "/api/connectors/list", bearer: nil, headers: [ServicesTokenHeader.name: harness.daemon.gatewayToken])
                #expect(nobody.status == .unauthorized)
            }
        }
    }

    @Test func aTestCallRecordsHealth() async throws {
        try await ConnectorsHarness.with { harness in
            let user = try await harness.apiKey(for: "u_health")
            try await harness.daemon.withAPI { client in
                #expect(try await connectStripe(client, bearer: user, key: harness.goodKey).status == .created)
                let ok = try await client.api(.post, "/api/connectors/stripe/test", bearer: user)
                #expect(ok.status == .ok && ok.object["ok"] as? Bool == true && ok.object["checked_at"] is String)
                #expect(Set(ok.object.keys) == ["ok", "latency_ms", "checked_at"])
                harness.apiKeys.revoke(key: harness.goodKey)
                let failing = try await client.api(.post, "/api/connectors/stripe/test", bearer: user)
                #expect(failing.object["ok"] as? Bool == false)
                #expect(Set(failing.object.keys) == ["ok", "latency_ms", "checked_at", "error"])
                let status = try await client.api(.get, "/api/connectors/stripe", bearer: user)
                #expect(status.object["health"] as? String == "failing")
            }
        }
    }

    @Test func theCatalogIsServedWithCustomProviders() async throws {
        try await ConnectorsHarness.with { harness in
            let user = try await harness.apiKey(for: "u_catalog")
            try await harness.daemon.withAPI { client in
                let answer = try await client.api(.get, "/api/connectors/providers", bearer: user)
                let providers = try #require(answer.object["providers"] as? [[String: Any]])
                #expect(providers.count == 22)
                let custom = try #require(providers.first { $0["slug"] as? String == "fake_oauth" })
                #expect((custom["capabilities"] as? [String: Any])?["revoke"] as? Bool == true)
                #expect(!answer.text.contains(harness.oauth.configuration.clientSecret))
            }
        }
    }
}

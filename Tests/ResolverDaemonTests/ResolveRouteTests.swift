import Connectors
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import PGClient
import PGTestSupport
import Testing
@testable import ResolverDaemon

@Suite(.enabled(if: TestDatabase.isConfigured)) struct ResolveRouteTests {
    @Test func resolvesAStoredKeyAndAuditsIt() async throws {
        try await DaemonHarness.with { daemon in
            let key = try DaemonHarness.sampleKey()
            let record = try await daemon.runtime.store.put(
                userID: "u_123", provider: "stripe", credential: Credential(type: .apiKey, accessToken: key),
                metadataJSON: #"{"account_name": "Acme"}"#)
            let gateway = daemon.gatewayToken
            try await daemon.withAPI { client in
                let response = try await client.resolve(#"{"provider": "stripe", "user_id": "u_123", "extra": true}"#, token: gateway)
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                let body = response.object
                #expect(body["connector_id"] as? String == record.id)
                #expect(body["access_token"] as? String == key)
                #expect(body["type"] as? String == "api_key")
                #expect(body["token_type"] as? String == "Bearer")
                #expect(body["expires_at"] is NSNull)
                #expect((body["metadata"] as? [String: Any])?["account_name"] as? String == "Acme")
            }
            await daemon.runtime.audit.flush()
            let audit = try await daemon.pool.query("SELECT actor, action, outcome, connector_id, provider, user_id FROM audit_events")
            let row = try #require(audit.first)
            let (actor, action, outcome) = try row.decode((String, String, String).self)
            #expect(actor == "gateway" && action == "resolve" && outcome == "ok")
            #expect(try row.decode(String?.self, at: 3) == record.id)
            #expect(try row.decode(String?.self, at: 4) == "stripe")
            #expect(try row.decode(String?.self, at: 5) == "u_123")
            let stored = try await daemon.pool.query("SELECT audit_batches::text FROM audit_batches")
            #expect(stored.count == 1)
            #expect(try stored.allSatisfy { !(try $0.decode(String.self, at: 0)).contains(key) })
            #expect(!daemon.logs.text.contains(key))
        }
    }

    @Test func servicesTokensAreCheckedAndScoped() async throws {
        try await DaemonHarness.with { daemon in
            try await daemon.runtime.store.put(userID: "u_1", provider: "gmail", credential: Credential(type: .oauth, accessToken: "at"))
            let (gateway, limited) = (daemon.gatewayToken, daemon.limitedToken)
            try await daemon.withAPI { client in
                let body = #"{"provider": "gmail", "user_id": "u_1"}"#
                let missing = try await client.resolve(body, token: nil)
                #expect(missing.status == .unauthorized && missing.errorCode == "unauthorized")
                let wrong = try await client.resolve(body, token: gateway + "x")
                #expect(wrong.status == .unauthorized)
                let forbidden = try await client.resolve(body, token: limited)
                #expect(forbidden.status == .forbidden && forbidden.errorCode == "forbidden")
                #expect(try await client.resolve(body, token: gateway).status == .ok)
            }
            #expect(!daemon.logs.text.contains(gateway) && !daemon.logs.text.contains(limited))
        }
    }

    @Test func everyStatusOfTheContract() async throws {
        try await DaemonHarness.with { daemon in
            let store = daemon.runtime.store
            for provider in ["hubspot", "shopify", "figma"] {
                try await store.put(userID: "u_1", provider: provider, credential: Credential(type: .oauth, accessToken: "at-\(provider)"))
            }
            _ = try await daemon.pool.query("UPDATE connector_tokens SET status = 'needs_reauth' WHERE provider = 'hubspot'")
            _ = try await daemon.pool.query("UPDATE connector_tokens SET status = 'disabled' WHERE provider = 'shopify'")
            _ = try await daemon.pool.query("UPDATE connector_tokens SET status = 'pending' WHERE provider = 'figma'")
            let gateway = daemon.gatewayToken
            try await daemon.withAPI { client in
                let cases: [(String, HTTPResponse.Status, String)] = [
                    ("hubspot", .conflict, "needs_reauth"), ("shopify", .init(code: 423), "disabled"),
                    ("figma", .notFound, "not_connected"), ("stripe", .notFound, "not_connected"),
                ]
                for (provider, status, code) in cases {
                    let response = try await client.resolve(#"{"provider": "\#(provider)", "user_id": "u_1"}"#, token: gateway)
                    #expect(response.status == status, "\(provider)")
                    #expect(response.errorCode == code, "\(provider)")
                    #expect(!response.text.contains("at-\(provider)"))
                }
            }
        }
    }

    @Test func badInputGetsAClearErrorAndChangesNothing() async throws {
        try await DaemonHarness.with { daemon in
            let gateway = daemon.gatewayToken
            try await daemon.withAPI { client in
                let cases: [(String, String)] = [
                    ("{not json", "not valid JSON"),
                    (#"{"provider": "stripe"}"#, "user_id"),
                    (#"{"provider": 7, "user_id": "u"}"#, "provider"),
                    (#"{"provider": "stripe", "user_id": "u", "min_valid_seconds": "soon"}"#, "min_valid_seconds"),
                    (#"{"provider": "Stripe!", "user_id": "u"}"#, "provider"),
                    (#"{"provider": "stripe", "user_id": ""}"#, "user_id"),
                    (#"{"provider": "stripe", "user_id": "u", "min_valid_seconds": -1}"#, "min_valid_seconds"),
                    // The database's text cannot hold NUL: such an id must not reach the batched lookup, where it
                    // would fail every resolve read in the same statement.
                    (#"{"provider": "stripe", "user_id": "u\u0000x"}"#, "user_id"),
                    (#"{"provider": "stripe", "user_id": "u\u001bx"}"#, "user_id"),
                ]
                for (body, mentions) in cases {
                    let response = try await client.resolve(body, token: gateway)
                    #expect(response.status == .badRequest, "\(body)")
                    #expect(response.errorCode == "invalid_request", "\(body)")
                    let message = (response.object["error"] as? [String: Any])?["message"] as? String ?? ""
                    #expect(message.contains(mentions), "\(body): \(message)")
                }
                let huge = #"{"provider": "stripe", "user_id": ""# + String(repeating: "x", count: 1 << 20) + #""}"#
                let tooLarge = try await client.resolve(huge, token: gateway)
                #expect(tooLarge.status == .contentTooLarge)
                #expect(tooLarge.errorCode == "payload_too_large")
                let unknownRoute = try await client.execute(uri: "/internal/v1/nothing", method: .get)
                #expect(unknownRoute.status == .notFound && unknownRoute.errorCode == "not_found")
                // A known path with another method: 405 and the methods it allows, as the router would pick the
                // route (the literal `list` before the `{ref}` capture).
                for (method, uri, allow) in [
                    (HTTPRequest.Method.get, "/internal/v1/resolve", "POST"), (.put, "/api/connectors/ct_x", "DELETE, GET, PATCH"),
                    (.post, "/api/connectors/list", "GET"), (.delete, "/api/connectors/ct_x/refresh", "POST"),
                ] {
                    let wrongMethod = try await client.execute(uri: uri, method: method)
                    #expect(wrongMethod.status == .methodNotAllowed && wrongMethod.errorCode == "method_not_allowed", "\(method) \(uri)")
                    #expect(wrongMethod.headers[.allow] == allow, "\(method) \(uri)")
                }
            }
            #expect(try await daemon.pool.query("SELECT count(*) FROM connector_tokens").first?.decode(Int.self, at: 0) == 0)
        }
    }

    @Test func aCiphertextMovedToAnotherRowIsRefusedNotServed() async throws {
        try await DaemonHarness.with { daemon in
            let theirs = try DaemonHarness.sampleKey()
            try await daemon.runtime.store.put(userID: "victim", provider: "stripe", credential: Credential(type: .apiKey, accessToken: theirs))
            try await daemon.runtime.store.put(
                userID: "attacker", provider: "stripe", credential: Credential(type: .apiKey, accessToken: try DaemonHarness.sampleKey()))
            _ = try await daemon.pool.query(
                "UPDATE connector_tokens SET access_token = (SELECT access_token FROM connector_tokens WHERE user_id = 'victim') WHERE user_id = 'attacker'"
            )
            let gateway = daemon.gatewayToken
            try await daemon.withAPI { client in
                let response = try await client.resolve(#"{"provider": "stripe", "user_id": "attacker"}"#, token: gateway)
                #expect(response.status == .serviceUnavailable)
                #expect(response.errorCode == "corrupt_credential")
                #expect(!response.text.contains(theirs))
            }
            #expect(daemon.logs.text.contains("corrupt_credential"))
            #expect(!daemon.logs.text.contains(theirs))
        }
    }

    @Test func expiringOAuthTokens() async throws {
        try await DaemonHarness.with { daemon in
            let store = daemon.runtime.store
            try await store.put(
                userID: "u_1", provider: "gmail",
                credential: Credential(type: .oauth, accessToken: "fresh", expiresAt: Date().addingTimeInterval(3600)))
            try await store.put(
                userID: "u_1", provider: "outlook",
                credential: Credential(type: .oauth, accessToken: "soon", expiresAt: Date().addingTimeInterval(30)))
            try await store.put(
                userID: "u_1", provider: "salesforce",
                credential: Credential(type: .oauth, accessToken: "gone", expiresAt: Date().addingTimeInterval(-5)))
            let gateway = daemon.gatewayToken
            try await daemon.withAPI { client in
                let fresh = try await client.resolve(#"{"provider": "gmail", "user_id": "u_1"}"#, token: gateway)
                #expect(fresh.status == .ok)
                #expect((fresh.object["expires_at"] as? String)?.hasSuffix("Z") == true)
                // Within min_valid_seconds but still valid: served while no refresher exists in this build.
                let soon = try await client.resolve(#"{"provider": "outlook", "user_id": "u_1", "min_valid_seconds": 60}"#, token: gateway)
                #expect(soon.status == .ok && soon.object["access_token"] as? String == "soon")
                let gone = try await client.resolve(#"{"provider": "salesforce", "user_id": "u_1"}"#, token: gateway)
                #expect(gone.status == .serviceUnavailable && gone.errorCode == "refresh_unavailable")
                #expect(!gone.text.contains("gone"))
            }
        }
    }

    @Test func batchAnswersEachRequestInOrder() async throws {
        try await DaemonHarness.with { daemon in
            let key = try DaemonHarness.sampleKey()
            try await daemon.runtime.store.put(userID: "u_1", provider: "stripe", credential: Credential(type: .apiKey, accessToken: key))
            let (gateway, limited) = (daemon.gatewayToken, daemon.limitedToken)
            try await daemon.withAPI { client in
                let body =
                    #"{"requests": [{"provider": "stripe", "user_id": "u_1"}, {"provider": "gmail", "user_id": "u_1"}, {"provider": "BAD", "user_id": "u_1"}]}"#
                let response = try await client.resolve(body, token: gateway, path: "/internal/v1/resolve/batch")
                #expect(response.status == .ok)
                let results = try #require(response.object["results"] as? [[String: Any]])
                #expect(results.count == 3)
                #expect(results[0]["access_token"] as? String == key)
                #expect((results[1]["error"] as? [String: Any])?["code"] as? String == "not_connected")
                #expect((results[2]["error"] as? [String: Any])?["code"] as? String == "invalid_request")
                let scoped = try await client.resolve(
                    #"{"requests": [{"provider": "gmail", "user_id": "u_1"}]}"#, token: limited, path: "/internal/v1/resolve/batch")
                #expect(((scoped.object["results"] as? [[String: Any]])?.first?["error"] as? [String: Any])?["code"] as? String == "forbidden")
                let many =
                    "{\"requests\": [" + Array(repeating: #"{"provider": "stripe", "user_id": "u_1"}"#, count: 101).joined(separator: ",") + "]}"
                let tooMany = try await client.resolve(many, token: gateway, path: "/internal/v1/resolve/batch")
                #expect(tooMany.status == .badRequest)
            }
        }
    }
}

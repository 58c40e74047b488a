import Foundation
import Testing

@testable import Connectors
@testable import ResolverDaemon

/// The JSON names of the API's bodies and of the config file, as openapi.yaml and the README give them: snake case,
/// nullable fields present as `null`.
@Suite struct WireFormatTests {
    /// A body as ``HTTPBodies`` writes it.
    func encoded(_ value: some Encodable) throws -> String {
        String(decoding: try JSONCoding.encoder.encode(value), as: UTF8.self)
    }

    func message(decoding body: String, as type: (some Decodable).Type) -> String {
        do {
            _ = try ResolveRequest.decode(type, from: Array(body.utf8))
            return "decoded"
        } catch let error as APIError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test func aConnectionShowsEveryFieldAndNullForTheMissingOnes() throws {
        let record = ConnectorRecord(
            id: "ct_1", userID: "u_1", workspaceID: nil, provider: "stripe", type: .apiKey, status: .connected,
            expiresAt: Date(timeIntervalSince1970: 1_738_324_800), scopes: [], metadataJSON: #"{"account_name": "Acme"}"#, role: nil,
            settingsJSON: "{}", health: .ok, lastCheckedAt: nil, lastError: nil, version: 1, createdAt: Date(timeIntervalSince1970: 1_738_227_600),
            updatedAt: Date(timeIntervalSince1970: 1_738_324_800))
        #expect(
            try encoded(ConnectionView(record: record))
                == #"{"account":"Acme","created_at":"2025-01-30T09:00:00Z","error":null,"expires_at":"2025-01-31T12:00:00Z","health":"ok","#
                + #""id":"ct_1","last_checked_at":null,"provider":"stripe","role":null,"scopes":[],"settings":{},"status":"connected","#
                + #""type":"api_key","updated_at":"2025-01-31T12:00:00Z","workspace_id":null}"#)
        var failed = ConnectionView(record: record)
        (failed.status, failed.error) = (.failed, "denied")
        let text = try encoded(failed)
        #expect(text.contains(#""error":"denied""#) && text.contains(#""status":"failed""#))
    }

    @Test func aProviderShowsItsSettingsWithNullDefaults() throws {
        let catalog = try ProviderCatalog.builtIn()
        #expect(
            try encoded(ProviderView(provider: try #require(catalog.provider("shopify"))))
                == #"{"capabilities":{"pkce":false,"refresh":true,"revoke":false,"test":true},"name":"Shopify","#
                + #""roles":["source","primary_data_source"],"scopes":["read_products","read_orders","read_customers"],"#
                + #""settings":[{"default":null,"description":"shop subdomain, the part before .myshopify.com","name":"shop","required":true}],"#
                + #""slug":"shopify","type":"oauth"}"#)
        #expect(try encoded(ProviderView(provider: try #require(catalog.provider("posthog")))).contains(#""default":"us.posthog.com""#))
    }

    @Test func requestErrorsNameTheFieldAsTheCallerSpellsIt() {
        #expect(message(decoding: #"{"provider": "stripe"}"#, as: ResolveRequest.self) == "missing field user_id")
        #expect(
            message(decoding: #"{"provider": "stripe", "user_id": "u", "min_valid_seconds": "60"}"#, as: ResolveRequest.self)
                == "field min_valid_seconds has the wrong type")
        #expect(
            message(decoding: #"{"requests": [{"provider": "stripe", "user_id": 5}]}"#, as: ResolveBatchRequest.self)
                == "field user_id has the wrong type")
        #expect(message(decoding: #"{"provider": "stripe"}"#, as: ConnectorsRoutes.ConnectRequest.self) == "missing field api_key")
        #expect(
            message(decoding: #"{"provider": "stripe", "api_key": "k", "workspace_id": 1}"#, as: ConnectorsRoutes.ConnectRequest.self)
                == "field workspace_id has the wrong type")
        #expect(message(decoding: #"{"role": 1}"#, as: ConnectorsRoutes.PatchRequest.self) == "field role has the wrong type")
    }

    @Test func requestsAreReadBySnakeCaseNames() throws {
        let resolve = try ResolveRequest.decode(ResolveRequest.self, from: Array(#"{"provider": "p", "user_id": "u", "min_valid_seconds": 5}"#.utf8))
        #expect(resolve.userID == "u" && resolve.minValidSeconds == 5)
        let connect = try ResolveRequest.decode(
            ConnectorsRoutes.ConnectRequest.self,
            from: Array(#"{"provider": "p", "api_key": "k", "settings": {"shopName": 1}, "role": "crm_sink", "workspace_id": "w"}"#.utf8))
        #expect(connect.apiKey == "k" && connect.workspaceID == "w" && connect.role == .crmSink && connect.settings?["shopName"] == .number(1))
        let cleared = try ResolveRequest.decode(ConnectorsRoutes.PatchRequest.self, from: Array(#"{"role": null}"#.utf8))
        #expect(cleared.role == .some(nil) && cleared.settings == nil)
        let untouched = try ResolveRequest.decode(ConnectorsRoutes.PatchRequest.self, from: Array(#"{"enabled": true}"#.utf8))
        #expect(untouched.role == nil && untouched.enabled == true)
    }

    @Test func theConfigFileIsReadBySnakeCaseNames() throws {
        let file = try ConfigFile.load(
            text:
                #"""
                {
                  "public_url": "https://resolverd.example", "redirect_allowlist": ["https://app.example/done"],
                  "session_jwt": {"algorithm": "RS256", "secret_file": "/s", "public_key_file": "/k", "issuer": "i", "audience": "a",
                                  "leeway_seconds": 5},
                  "providers": {
                    "google_ads": {"client_id": "cid", "client_secret_file": "/c", "base_url": "http://127.0.0.1:1",
                                   "values": {"DEVELOPER_TOKEN": "t", "loginCustomerId": "1"}, "value_files": {"dev_token": "/d"},
                                   "override": {"docs_url": "x"}, "app_id": "42", "private_key_file": "/p", "allowed_hosts": ["h.example"]}
                  },
                  "custom_providers": [{"slug": "acme"}], "provider_timeout_seconds": 7,
                  "refresh": {"lead_seconds": 1, "concurrency": 2, "per_provider_concurrency": 3, "batch_size": 4, "lease_seconds": 5,
                              "base_backoff_seconds": 6, "maximum_backoff_seconds": 7, "budget_floor_seconds": 8},
                  "webhook": {"url": "https://hooks.example", "secret_file": "/w"},
                  "cache_size": 9, "oauth": {"require_confirmation": true}
                }
                """#)
        #expect(file.publicURL == "https://resolverd.example" && file.redirectAllowlist == ["https://app.example/done"])
        let jwt = try #require(file.sessionJWT)
        #expect(jwt.algorithm == "RS256" && jwt.secretFile == "/s" && jwt.publicKeyFile == "/k" && jwt.issuer == "i" && jwt.audience == "a")
        #expect(jwt.leewaySeconds == 5)
        let ads = try #require(file.providers?["google_ads"])
        #expect(ads.clientID == "cid" && ads.clientSecretFile == "/c" && ads.baseURL == "http://127.0.0.1:1")
        #expect(ads.values == ["DEVELOPER_TOKEN": "t", "loginCustomerId": "1"] && ads.valueFiles == ["dev_token": "/d"])
        #expect(ads.override == .object(["docs_url": .string("x")]) && ads.appID == "42" && ads.privateKeyFile == "/p")
        #expect(ads.allowedHosts == ["h.example"])
        #expect(file.customProviders == [.object(["slug": .string("acme")])] && file.providerTimeoutSeconds == 7)
        let refresh = try #require(file.refresh)
        #expect(refresh.leadSeconds == 1 && refresh.concurrency == 2 && refresh.perProviderConcurrency == 3 && refresh.batchSize == 4)
        #expect(refresh.leaseSeconds == 5 && refresh.baseBackoffSeconds == 6 && refresh.maximumBackoffSeconds == 7)
        #expect(refresh.budgetFloorSeconds == 8)
        #expect(file.webhook?.url == "https://hooks.example" && file.webhook?.secretFile == "/w")
        #expect(file.cacheSize == 9 && file.oauth?.requireConfirmation == true)
    }

    @Test func configErrorsNameTheFileFields() {
        func reason(_ json: String) -> String {
            do {
                _ = try ConfigFile.load(text: json)
                return "read"
            } catch {
                return "\(error)"
            }
        }
        #expect(reason(#"{"providers": {"google_ads": {"client_id": 1}}}"#).hasSuffix("providers.google_ads.client_id has the wrong type"))
        #expect(reason(#"{"session_jwt": {"secret_file": "/s"}}"#).hasSuffix("session_jwt: algorithm is missing"))
        #expect(reason(#"{"refresh": {"per_provider_concurrency": "2"}}"#).hasSuffix("refresh.per_provider_concurrency has the wrong type"))
        #expect(reason(#"{"oauth": {"require_confirmation": 1}}"#).hasSuffix("oauth.require_confirmation has the wrong type"))
    }
}

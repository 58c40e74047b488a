import Connectors
import Foundation
import Testing

/// The built-in catalog, configuration overrides, templates and the odd error shapes providers answer.
@Suite struct ProviderCatalogTests {
    static let expectedSlugs = [
        "gmail", "outlook", "google_ads", "google_analytics", "meta_ads", "tiktok_ads", "linkedin_ads", "shopify", "github", "hubspot",
        "salesforce", "webflow", "sanity", "stripe", "posthog", "klaviyo", "gorgias", "zendesk", "vercel", "railway", "figma",
    ]

    @Test func theBuiltInCatalogHasEveryProviderWithRealEndpoints() throws {
        let catalog = try ProviderCatalog.builtIn()
        #expect(catalog.providers.map(\.slug) == Self.expectedSlugs)
        for provider in catalog.providers {
            // Salesforce's API host is the instance its token answer names.
            #expect(provider.test.url.hasPrefix("https://") || provider.test.url.hasPrefix("{metadata.instance_url}/"), "\(provider.slug) test call")
            #expect(!provider.roles.isEmpty, "\(provider.slug) roles")
            if provider.type == .oauth {
                let oauth = try #require(provider.oauth, "\(provider.slug) oauth")
                #expect(oauth.authorizeURL.hasPrefix("https://") && oauth.tokenURL.hasPrefix("https://"), "\(provider.slug) endpoints")
            }
            // Every `{settings.X}` a template uses is a declared setting.
            let declared = Set(provider.settings.map(\.name))
            let templates = [provider.test.url, provider.oauth?.authorizeURL, provider.oauth?.tokenURL, provider.revoke?.url, provider.account?.url]
            for template in templates.compactMap({ $0 }) {
                for match in template.matches(of: /\{settings\.([a-z_]+)\}/) {
                    #expect(declared.contains(String(match.1)), "\(provider.slug) uses undeclared setting \(match.1)")
                }
            }
        }
        // The odd ones PROVIDERS.md describes.
        #expect(catalog.provider("github")?.oauth?.errorStyle == .github)
        #expect(catalog.provider("tiktok_ads")?.oauth?.errorStyle == .tiktok)
        #expect(catalog.provider("meta_ads")?.oauth?.grantType == .metaLongLived)
        #expect(catalog.provider("figma")?.oauth?.refreshURL != nil)
        #expect(catalog.provider("stripe")?.type == .apiKey)
    }

    @Test func overridesMergeAndCustomProvidersAreAdded() throws {
        let custom: JSONValue = try JSONValue.parse(Array("""
            {"slug": "acme", "name": "Acme", "type": "api_key", "roles": ["source"], "settings": [],
             "test": {"url": "https://api.acme.test/me", "method": "GET", "headers": {"Authorization": "Bearer {access_token}"}, "account_name_path": "name"}}
            """.utf8))
        let patch = try JSONValue.parse(Array(#"{"oauth": {"scopes": ["https://www.googleapis.com/auth/gmail.readonly"]}, "notes": null}"#.utf8))
        let catalog = try ProviderCatalog.builtIn().applying(patches: ["gmail": patch], additions: [custom])
        #expect(catalog.provider("gmail")?.oauth?.scopes == ["https://www.googleapis.com/auth/gmail.readonly"])
        #expect(catalog.provider("gmail")?.notes == nil)
        #expect(catalog.provider("gmail")?.oauth?.tokenURL == "https://oauth2.googleapis.com/token")
        #expect(catalog.provider("acme")?.test.accountNamePath == "name")
        #expect(throws: CatalogError.self) { try ProviderCatalog.builtIn().applying(patches: ["nope": patch], additions: []) }
        #expect(throws: CatalogError.self) { try ProviderCatalog.builtIn().applying(patches: [:], additions: [custom, custom]) }
        let broken = try JSONValue.parse(Array(#"{"slug": "broken", "name": "Broken"}"#.utf8))
        #expect(throws: CatalogError.self) { try ProviderCatalog.builtIn().applying(patches: [:], additions: [broken]) }
    }

    @Test func aBaseURLReplacesTheOriginOfEveryEndpoint() throws {
        let shopify = try #require(try ProviderCatalog.builtIn().provider("shopify")).withBaseURL("http://127.0.0.1:9999")
        #expect(shopify.oauth?.tokenURL.hasPrefix("http://127.0.0.1:9999/") == true)
        #expect(shopify.test.url.hasPrefix("http://127.0.0.1:9999/"))
        #expect(!shopify.test.url.contains("myshopify"))
        let salesforce = try #require(try ProviderCatalog.builtIn().provider("salesforce")).withBaseURL("http://127.0.0.1:9999")
        #expect(salesforce.test.url == "http://127.0.0.1:9999/services/oauth2/userinfo")
    }

    @Test func templatesFillValuesAndLeaveLiteralBracesAlone() throws {
        let values = TemplateValues(accessToken: "a b&c", clientID: "cid", settings: ["shop": "acme"], metadata: ["instance_url": "https://x.example"], config: ["v": "1"])
        #expect(try values.render("https://{settings.shop}.myshopify.com/x?t={access_token}", inURL: true) == "https://acme.myshopify.com/x?t=a%20b%26c")
        #expect(try values.render("Bearer {access_token}") == "Bearer a b&c")
        #expect(try values.render(#"{"query":"{ shop { name } }"}"#) == #"{"query":"{ shop { name } }"}"#)
        #expect(try values.render("{metadata.instance_url}/me?v={config.v}") == "https://x.example/me?v=1")
        #expect(throws: ConnectorError.self) { try TemplateValues().render("https://{settings.shop}.myshopify.com") }
    }

    @Test func settingsAreCheckedAndDefaulted() throws {
        let catalog = try ProviderCatalog.builtIn()
        let shopify = try #require(catalog.provider("shopify"))
        #expect(throws: ConnectorError.self) { try shopify.validatedSettings([:]) }
        #expect(throws: ConnectorError.self) { try shopify.validatedSettings(["shop": .string("evil.example/")]) }
        #expect(throws: ConnectorError.self) { try shopify.validatedSettings(["shop": .number(3)]) }
        #expect(try shopify.validatedSettings(["shop": .string("acme-store")])["shop"] == .string("acme-store"))
        let posthog = try #require(catalog.provider("posthog"))
        #expect(try posthog.validatedSettings([:])["host"] != nil)
        let huge = JSONValue.string(String(repeating: "x", count: ProviderDefinition.settingsLimit))
        #expect(throws: ConnectorError.self) { try posthog.validatedSettings(["notes": huge]) }
    }

    @Test func cursorsRoundTripAndRejectForgeries() throws {
        let cursor = ConnectorCursor(createdAt: Date(timeIntervalSince1970: 1_790_000_000.123456), id: "ct_" + String(repeating: "a", count: 26))
        #expect(ConnectorCursor(token: cursor.token) == cursor)
        #expect(ConnectorCursor(token: "abc") == nil)
        #expect(ConnectorCursor(token: Data("12:ct_x".utf8).base64EncodedString()) == nil)
        #expect(ConnectorCursor(token: String(repeating: "A", count: 500)) == nil)
    }

    @Test func mergePatchFollowsRFC7386() throws {
        let target = try JSONValue.parse(Array(#"{"a": "b", "c": {"d": "e", "f": "g"}}"#.utf8))
        let patch = try JSONValue.parse(Array(#"{"a": "z", "c": {"f": null}}"#.utf8))
        #expect(target.merging(patch) == (try JSONValue.parse(Array(#"{"a": "z", "c": {"d": "e"}}"#.utf8))))
        #expect(target.value(at: "c.d")?.text == "e")
        let array = try JSONValue.parse(Array(#"{"data": [{"name": "n"}]}"#.utf8))
        #expect(array.value(at: "data.0.name")?.text == "n")
    }
}

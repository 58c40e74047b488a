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
        let custom: JSONValue = try JSONValue.parse(
            Array(
                """
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

    @Test func aBaseURLMovesTheOriginOnlyAfterTheURLIsRenderedAndChecked() throws {
        let catalog = try ProviderCatalog.builtIn()
        let shopify = try #require(catalog.provider("shopify")).withBaseURL("http://127.0.0.1:9999")
        let values = TemplateValues(accessToken: "t", clientID: "cid", settings: ["shop": "acme"])
        let exchange = try shopify.url(for: .exchange, values: values)
        #expect(exchange.rendered == "https://acme.myshopify.com/admin/oauth/access_token")
        #expect(exchange.host == "acme.myshopify.com")
        #expect(exchange.target == "http://127.0.0.1:9999/admin/oauth/access_token")
        let salesforce = try #require(catalog.provider("salesforce")).withBaseURL("http://127.0.0.1:9999")
        let test = try salesforce.url(for: .test, values: TemplateValues(metadata: ["instance_url": "https://acme.my.salesforce.com"]))
        #expect(test.host == "acme.my.salesforce.com" && test.target == "http://127.0.0.1:9999/services/oauth2/userinfo")
        // The fake's origin does not make a hostile value acceptable.
        #expect(throws: ConnectorError.self) {
            try salesforce.url(for: .test, values: TemplateValues(metadata: ["instance_url": "https://attacker.example"]))
        }
    }

    /// Every call of every catalog provider, rendered with sample settings and metadata the way production renders
    /// it: an absolute https URL, nothing left to fill, on the provider's own domains.
    @Test(arguments: expectedSlugs) func everyProviderURLRendersToTheProvidersOwnDomains(slug: String) throws {
        let provider = try #require(try ProviderCatalog.builtIn().provider(slug))
        let samples: [String: String] = [
            "customer_id": "1234567890", "login_customer_id": "1234567890", "property_id": "123456", "ad_account_id": "act_123",
            "shop": "acme-store", "installation_id": "42", "login_host": "acme.my.salesforce.com", "project_id": "abc123",
            "host": "eu.posthog.com", "subdomain": "acme", "email": "ops@acme.example", "team_id": "team_abc",
        ]
        var settings: [String: JSONValue] = [:]
        for setting in provider.settings {
            settings[setting.name] = .string(try #require(samples[setting.name], "a sample for \(slug).\(setting.name)"))
        }
        let checked = try provider.validatedSettings(settings, allowVerified: true)
        let values = TemplateValues(
            accessToken: "sample-token", clientID: "sample-client", settings: checked.stringValues,
            metadata: ["instance_url": "https://acme.my.salesforce.com"], config: ["developer_token": "sample"])
        var rendered = 0
        for call in ProviderCall.allCases where provider.template(for: call) != nil {
            let url = try provider.url(for: call, values: values)
            #expect(url.rendered.hasPrefix("https://"), "\(slug) \(call)")
            #expect(!url.rendered.contains("{") && !url.rendered.contains("}"), "\(slug) \(call)")
            #expect(provider.allows(host: url.host), "\(slug) \(call): \(url.host)")
            #expect(provider.domains?.isEmpty == false, "\(slug) declares its domains")
            #expect(url.target == url.rendered)
            rendered += 1
        }
        // OAuth providers: authorize, exchange, refresh and test at least; API-key providers: their test.
        #expect(rendered >= (provider.type == .oauth ? 4 : 1), "\(slug) renders \(rendered) calls")
    }

    /// Values users set are checked against what each provider allows; host-valued ones against its hosts.
    @Test func hostFormingSettingsStayOnTheProvidersDomains() throws {
        let catalog = try ProviderCatalog.builtIn()
        func refused(_ slug: String, _ name: String, _ value: String) throws -> Bool {
            let provider = try #require(catalog.provider(slug))
            return (try? provider.validatedSettings([name: .string(value)])) == nil
        }
        for hostile in ["evil.example", "acme.myshopify.com", "a.b", "-acme", "acme_", "ACME/x", "a@b", "acme.evil.example#"] {
            #expect(try refused("shopify", "shop", hostile), "\(hostile)")
            #expect(try refused("zendesk", "subdomain", hostile), "\(hostile)")
            #expect(try refused("gorgias", "subdomain", hostile), "\(hostile)")
        }
        for hostile in [
            "evil.example", "salesforce.com.evil.example", "my.salesforce.com", "login.salesforce.com.", "a@login.salesforce.com",
            ".my.salesforce.com",
        ] {
            #expect(try refused("salesforce", "login_host", hostile), "\(hostile)")
        }
        for fine in ["login.salesforce.com", "test.salesforce.com", "acme.my.salesforce.com", "acme--dev.sandbox.my.salesforce.com"] {
            #expect(try !refused("salesforce", "login_host", fine), "\(fine)")
        }
        for hostile in ["evil.example", "169.254.169.254", "localhost", "posthog.com", "us.posthog.com.evil.example"] {
            #expect(try refused("posthog", "host", hostile), "\(hostile)")
        }
        #expect(try !refused("posthog", "host", "eu.posthog.com"))
        // The operator may list a self-hosted PostHog; then it renders, and nothing else does.
        let selfHosted = try #require(catalog.provider("posthog")).allowingHosts(["posthog.internal.example"])
        let settings = try selfHosted.validatedSettings(["host": .string("posthog.internal.example")])
        let url = try selfHosted.url(for: .test, values: TemplateValues(accessToken: "t", settings: settings.stringValues))
        #expect(url.host == "posthog.internal.example")
        #expect((try? selfHosted.validatedSettings(["host": .string("evil.example")])) == nil)
        // A GitHub installation id is never taken as a user gives it.
        #expect(try refused("github", "installation_id", "42"))
        #expect(try !refused("meta_ads", "ad_account_id", "act_123"))
        #expect(try refused("meta_ads", "ad_account_id", "act_1/../x"))
    }

    /// A custom provider whose URL takes its host from a value must say which domains that host may be on.
    @Test func customProvidersWithTemplatedHostsDeclareTheirDomains() throws {
        func entry(domains: String) throws -> JSONValue {
            try JSONValue.parse(
                Array(
                    #"""
                    {"slug": "acme", "name": "Acme", "type": "api_key", "roles": ["source"], \#(domains)
                     "settings": [{"name": "tenant", "description": "tenant", "required": true, "pattern": "^[a-z]+$"}],
                     "test": {"url": "https://{settings.tenant}.acme.example/me", "method": "GET"}}
                    """#.utf8))
        }
        #expect(throws: CatalogError.self) { try ProviderCatalog.builtIn().applying(patches: [:], additions: [try entry(domains: "")]) }
        let catalog = try ProviderCatalog.builtIn().applying(patches: [:], additions: [try entry(domains: #""domains": ["acme.example"],"#)])
        let acme = try #require(catalog.provider("acme"))
        let settings = try acme.validatedSettings(["tenant": .string("blue")])
        #expect(try acme.url(for: .test, values: TemplateValues(settings: settings.stringValues)).host == "blue.acme.example")
        #expect((try? acme.validatedSettings(["tenant": .string("evil.example#")])) == nil)
        let badPattern = try JSONValue.parse(
            Array(
                #"{"slug": "bad", "name": "Bad", "type": "api_key", "roles": ["source"], "settings": [{"name": "x", "description": "x", "required": false, "pattern": "(("}], "test": {"url": "https://bad.example/me", "method": "GET"}}"#
                    .utf8))
        #expect(throws: CatalogError.self) { try ProviderCatalog.builtIn().applying(patches: [:], additions: [badPattern]) }
    }

    /// A host a provider answers (Salesforce's `instance_url`) is stored only when it is on the provider's domains.
    @Test func hostsAProviderReturnsAreCheckedBeforeTheyAreStored() throws {
        let salesforce = try #require(try ProviderCatalog.builtIn().provider("salesforce"))
        let good = salesforce.acceptedFacts(["instance_url": "https://acme.my.salesforce.com", "id": "x"])
        #expect(good.accepted["instance_url"] == "https://acme.my.salesforce.com" && good.refused.isEmpty)
        for hostile in [
            "https://evil.example", "http://acme.my.salesforce.com", "https://acme.my.salesforce.com@evil.example",
            "https://acme.my.salesforce.com:8443", "https://acme.my.salesforce.com/x?y", "https://evil.example/.salesforce.com",
        ] {
            let result = salesforce.acceptedFacts(["instance_url": hostile])
            #expect(result.accepted["instance_url"] == nil && result.refused == ["instance_url"], "\(hostile)")
        }
    }

    @Test func templatesFillValuesAndLeaveLiteralBracesAlone() throws {
        let values = TemplateValues(
            accessToken: "a b&c", clientID: "cid", settings: ["shop": "acme"], metadata: ["instance_url": "https://x.example"], config: ["v": "1"])
        #expect(
            try values.render("https://{settings.shop}.myshopify.com/x?t={access_token}", inURL: true) == "https://acme.myshopify.com/x?t=a%20b%26c")
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

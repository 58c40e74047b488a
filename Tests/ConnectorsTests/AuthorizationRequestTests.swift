import Connectors
import Foundation
import Testing

/// The authorization URL of a grant, built from the real catalog entries, and the rules on what a caller may ask.
@Suite struct AuthorizationRequestTests {
    let catalog = try! ProviderCatalog.builtIn()

    func parameters(_ url: String) -> [String: String] {
        let items = URLComponents(string: url)?.queryItems ?? []
        return Dictionary(items.map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { first, _ in first })
    }

    @Test func gmailURLCarriesTheCodeFlowAndTheChallenge() throws {
        let gmail = try #require(catalog.provider("gmail")?.oauth)
        let url = AuthorizationRequest.url(
            base: gmail.authorizeURL, oauth: gmail, clientID: "client-1", callbackURL: "https://resolverd.example/api/oauth/gmail/callback",
            state: "st_1", scopes: gmail.scopes, codeVerifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        #expect(url.hasPrefix("https://accounts.google.com/o/oauth2/v2/auth?"))
        let query = parameters(url)
        #expect(query["response_type"] == "code")
        #expect(query["client_id"] == "client-1")
        #expect(query["redirect_uri"] == "https://resolverd.example/api/oauth/gmail/callback")
        #expect(query["state"] == "st_1")
        #expect(query["scope"] == gmail.scopes.joined(separator: " "))
        // RFC 7636, appendix B.
        #expect(query["code_challenge"] == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        #expect(query["code_challenge_method"] == "S256")
        for (name, value) in gmail.authorizeParams ?? [:] { #expect(query[name] == value) }
    }

    @Test func providersNameTheClientIDTheirWay() throws {
        let tiktok = try #require(catalog.provider("tiktok_ads")?.oauth)
        let url = AuthorizationRequest.url(
            base: tiktok.authorizeURL, oauth: tiktok, clientID: "app-9", callbackURL: "https://r.example/cb", state: "s", scopes: [],
            codeVerifier: nil)
        let query = parameters(url)
        #expect(query[tiktok.clientIDParam ?? "client_id"] == "app-9")
        #expect(query["scope"] == nil)
        #expect(query["code_challenge"] == nil)
    }

    @Test func valuesAreEncodedAndAnExistingQueryKept() {
        let url = AuthorizationRequest.appending([("state", "a b&c=d"), ("x", "é")], to: "https://p.example/auth?tenant=1")
        #expect(url == "https://p.example/auth?tenant=1&state=a%20b%26c%3Dd&x=%C3%A9")
    }

    @Test func scopesOnlyNarrow() throws {
        let configured = ["read", "write", "admin"]
        #expect(try AuthorizationRequest.scopes(requested: nil, configured: configured) == configured)
        #expect(try AuthorizationRequest.scopes(requested: "", configured: configured) == configured)
        #expect(try AuthorizationRequest.scopes(requested: "read,write", configured: configured) == ["read", "write"])
        #expect(try AuthorizationRequest.scopes(requested: "read write", configured: configured) == ["read", "write"])
        #expect(throws: AuthorizationRequest.ScopeError.notConfigured("delete")) {
            try AuthorizationRequest.scopes(requested: "read delete", configured: configured)
        }
        #expect(throws: AuthorizationRequest.ScopeError.tooMany) {
            try AuthorizationRequest.scopes(requested: Array(repeating: "read", count: 65).joined(separator: " "), configured: configured)
        }
        #expect(throws: AuthorizationRequest.ScopeError.tooMany) {
            try AuthorizationRequest.scopes(requested: String(repeating: "r", count: 257), configured: configured)
        }
    }

    @Test func redirectsMatchSchemeHostPortAndPathExactly() throws {
        let allowlist = try RedirectAllowlist(["https://app.example/connected", "http://localhost:3000/"])
        #expect(allowlist.allows("https://app.example/connected"))
        #expect(allowlist.allows("https://APP.example:443/connected?from=gmail"))
        #expect(allowlist.allows("http://localhost:3000"))
        #expect(!allowlist.allows("https://app.example/connected/../evil"))
        #expect(!allowlist.allows("https://app.example/other"))
        #expect(!allowlist.allows("http://app.example/connected"))
        #expect(!allowlist.allows("https://app.example:8443/connected"))
        #expect(!allowlist.allows("https://app.example.evil.test/connected"))
        #expect(!allowlist.allows("https://user@app.example/connected"))
        #expect(!allowlist.allows("https://app.example/connected#x"))
        #expect(!allowlist.allows("not a url"))
        #expect(throws: RedirectAllowlist.InvalidEntry.self) { try RedirectAllowlist(["/relative"]) }
        #expect(!(try RedirectAllowlist([])).allows("https://app.example/connected"))
    }
}

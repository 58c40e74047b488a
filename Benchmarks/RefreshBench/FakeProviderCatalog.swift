import Connectors
import ProviderFakes

/// The built-in catalog plus `fake_oauth`: the fake authorization server described as a provider that rotates its
/// refresh tokens (the entry the scheduler's tests use), and the client registered with it.
struct FakeProviderCatalog {
    static let slug = "fake_oauth"

    let catalog: ProviderCatalog
    let clients: [String: OAuthClient]

    init(fake: FakeOAuthProvider) throws {
        let entry = try JSONValue.parse(Array(fake.catalogEntry(slug: Self.slug).utf8))
        catalog = try ProviderCatalog.builtIn().applying(patches: [:], additions: [entry])
        clients = [Self.slug: OAuthClient(clientID: fake.configuration.clientID, clientSecret: fake.configuration.clientSecret)]
    }
}

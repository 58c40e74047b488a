import Connectors
import Testing

/// The operator's registrations fill a connector's template values the same way for every caller.
@Suite struct ProviderRegistrationsTests {
    let registrations = ProviderRegistrations(
        clients: ["shopify": OAuthClient(clientID: "cid", clientSecret: "secret")], values: ["shopify": ["api_version": "2026-10"]])

    @Test func aConnectorsValuesCarryItsRegistration() {
        let values = registrations.templateValues(
            provider: "shopify", accessToken: "token", settingsJSON: #"{"shop": "acme", "n": 1}"#, metadataJSON: #"{"account_name": "Acme"}"#)
        #expect(values.accessToken == "token" && values.clientID == "cid" && values.config == ["api_version": "2026-10"])
        #expect(values.settings["shop"] == "acme" && values.metadata["account_name"] == "Acme")
        let started = registrations.templateValues(provider: "shopify", settings: ["shop": "acme"])
        #expect(started.accessToken == nil && started.clientID == "cid" && started.settings == ["shop": "acme"])
    }

    @Test func anUnregisteredProviderHasNoClientOrValues() {
        let values = registrations.templateValues(provider: "stripe", accessToken: "sk", settingsJSON: "{}", metadataJSON: "{}")
        #expect(values.clientID == nil && values.config.isEmpty && values.accessToken == "sk")
    }
}

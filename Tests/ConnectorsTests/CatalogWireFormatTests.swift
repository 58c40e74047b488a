import Foundation
import Testing

@testable import Connectors

/// The catalog format's field names, both ways: what resolverd writes of a provider is what the file says.
@Suite struct CatalogWireFormatTests {
    /// The entry as written, without the members that are null (they are absent once decoded).
    func withoutNulls(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object): .object(object.filter { $0.value != .null }.mapValues(withoutNulls))
        case .array(let array): .array(array.map(withoutNulls))
        default: value
        }
    }

    @Test func everyBuiltInProviderIsWrittenBackAsTheFileHasIt() throws {
        let file = try JSONValue.parse(PackageResources.providers_json)
        guard case .array(let entries)? = file.object?["providers"] else {
            Issue.record("the built-in catalog has no providers list")
            return
        }
        let catalog = try ProviderCatalog.builtIn()
        #expect(entries.count == catalog.providers.count)
        for (entry, provider) in zip(entries, catalog.providers) {
            #expect(try ProviderCatalog.encode(provider) == withoutNulls(entry), "\(provider.slug)")
        }
    }

    @Test func aMalformedEntryIsNamedByItsFileFields() throws {
        let catalog = try ProviderCatalog.builtIn()
        func failure(_ patch: String) -> String {
            do {
                _ = try catalog.applying(patches: ["gmail": try JSONValue.parse(Array(patch.utf8))], additions: [])
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        #expect(failure(#"{"oauth": {"client_id_param": 3}}"#).hasSuffix("oauth.client_id_param has the wrong type"))
        #expect(failure(#"{"docs_url": false}"#).hasSuffix("docs_url has the wrong type"))
        #expect(failure(#"{"test": {"account_name_path": []}}"#).hasSuffix("test.account_name_path has the wrong type"))
        #expect(failure(#"{"oauth": {"token_url": null}}"#).hasSuffix("oauth: token_url is missing"))
    }
}

import Foundation

/// The providers resolverd knows: the catalog file built into the binary, with the operator's overrides merged
/// in and custom providers added.
public struct ProviderCatalog: Sendable {
    public private(set) var providers: [ProviderDefinition]
    private var bySlug: [String: Int]

    public init(_ providers: [ProviderDefinition]) throws {
        self.providers = providers
        bySlug = [:]
        for (index, provider) in providers.enumerated() {
            guard provider.slug.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_" || $0 == "-") }), !provider.slug.isEmpty else {
                throw CatalogError("provider slug '\(provider.slug)' must be lowercase letters, digits, '_' or '-'")
            }
            guard bySlug.updateValue(index, forKey: provider.slug) == nil else {
                throw CatalogError("provider '\(provider.slug)' is defined twice")
            }
            if provider.type == .oauth && provider.oauth == nil {
                throw CatalogError("provider '\(provider.slug)' is an OAuth provider without an \"oauth\" section")
            }
            try Self.checkHosts(provider)
        }
    }

    /// A provider whose URLs take their host from a value must say which domains it may be on, every domain must be
    /// a host name, and every setting's pattern must compile: else a user's value could aim its calls anywhere.
    static func checkHosts(_ provider: ProviderDefinition) throws {
        let templated = provider.templates.contains { ProviderDefinition.hostPart(of: $0).contains("{") }
        if templated && (provider.domains ?? []).isEmpty {
            throw CatalogError("provider '\(provider.slug)' takes a URL's host from a value: declare its \"domains\"")
        }
        for domain in provider.domains ?? [] where !ProviderDefinition.isHostName(domain) {
            throw CatalogError("provider '\(provider.slug)': the domain '\(domain.prefix(64))' is not a host name")
        }
        for setting in provider.settings {
            if let pattern = setting.pattern, (try? Regex(pattern)) == nil {
                throw CatalogError("provider '\(provider.slug)': the pattern of setting '\(setting.name)' is not a regular expression")
            }
        }
    }

    public func provider(_ slug: String) -> ProviderDefinition? {
        bySlug[slug].map { providers[$0] }
    }

    /// The catalog file compiled into resolverd.
    public static func builtIn() throws -> ProviderCatalog {
        try ProviderCatalog(decodingFile: PackageResources.providers_json, name: "the built-in catalog")
    }

    /// A catalog file's providers (`{"format_version": 1, "providers": [...]}`).
    public init(decodingFile bytes: [UInt8], name: String) throws {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw CatalogError("\(name) is not valid JSON")
        }
        guard case .array(let entries)? = value.object?["providers"] else {
            throw CatalogError("\(name) has no \"providers\" list")
        }
        try self.init(entries.map { try Self.decode($0, name: name) })
    }

    /// The catalog with `patches` (slug → a partial entry, merged as RFC 7386 says) applied and `additions` added.
    public func applying(patches: [String: JSONValue], additions: [JSONValue]) throws -> ProviderCatalog {
        var result = providers
        for (slug, patch) in patches.sorted(by: { $0.key < $1.key }) {
            guard let index = bySlug[slug] else { throw CatalogError("the configuration overrides unknown provider '\(slug)'") }
            let merged = try Self.encode(result[index]).merging(patch)
            result[index] = try Self.decode(merged, name: "the override of '\(slug)'")
            guard result[index].slug == slug else { throw CatalogError("the override of '\(slug)' cannot change its slug") }
        }
        for addition in additions {
            result.append(try Self.decode(addition, name: "a custom provider in the configuration"))
        }
        return try ProviderCatalog(result)
    }

    static func decode(_ value: JSONValue, name: String) throws -> ProviderDefinition {
        do {
            return try JSONCoding.decoder.decode(ProviderDefinition.self, from: JSONCoding.encoder.encode(value))
        } catch let error as DecodingError {
            let slug = value.object?["slug"]?.text.map { "'\($0)'" } ?? "an entry"
            throw CatalogError("\(name): provider \(slug) is malformed: \(error.readableDescription)")
        }
    }

    static func encode(_ provider: ProviderDefinition) throws -> JSONValue {
        try JSONCoding.decoder.decode(JSONValue.self, from: JSONCoding.encoder.encode(provider))
    }
}

/// A catalog that cannot be used, said in one line.
public struct CatalogError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension DecodingError {
    /// Which field is wrong and how, in one line, naming no value (configuration and catalog errors use it).
    public var readableDescription: String {
        func path(_ context: DecodingError.Context) -> String {
            let text = context.codingPath.map { $0.intValue.map(String.init) ?? JSONCoding.wireName($0) }.joined(separator: ".")
            return text.isEmpty ? "the document" : text
        }
        switch self {
        case .keyNotFound(let key, let context): return "\(path(context)): \(JSONCoding.wireName(key)) is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context): return "\(path(context)) has the wrong type"
        case .dataCorrupted(let context): return "\(path(context)) is not valid: \(context.debugDescription)"
        @unknown default: return "it does not match the expected format"
        }
    }
}

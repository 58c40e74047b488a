public import Foundation

/// The values a catalog template may use: `{access_token}`, `{client_id}`, `{settings.NAME}`, `{metadata.NAME}`
/// and `{config.NAME}`.
public struct TemplateValues: Sendable {
    public var accessToken: String?
    public var clientID: String?
    public var settings: [String: String]
    public var metadata: [String: String]
    public var config: [String: String]

    public init(
        accessToken: String? = nil, clientID: String? = nil, settings: [String: String] = [:], metadata: [String: String] = [:],
        config: [String: String] = [:]
    ) {
        self.accessToken = accessToken
        self.clientID = clientID
        self.settings = settings
        self.metadata = metadata
        self.config = config
    }

    /// The values of a connector: its settings and metadata as stored (JSON objects; their string members count).
    public init(accessToken: String?, clientID: String?, settingsJSON: String, metadataJSON: String, config: [String: String]) {
        self.init(
            accessToken: accessToken, clientID: clientID,
            settings: (try? JSONValue.parse(Array(settingsJSON.utf8)))?.object?.stringValues ?? [:],
            metadata: (try? JSONValue.parse(Array(metadataJSON.utf8)))?.object?.stringValues ?? [:], config: config)
    }

    /// `template` with its placeholders filled. In a URL the credential and client id are percent-encoded; setting
    /// values are checked when they are stored (``ProviderDefinition/validatedSettings(_:)``) and go in as they are.
    public func render(_ template: String, inURL: Bool = false) throws -> String {
        var result = ""
        var rest = template[...]
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else { break }
            let name = rest[rest.index(after: open)..<close]
            // A literal brace (a JSON or GraphQL body) is anything that is not one of our names.
            guard let value = try lookup(name) else {
                result += rest[...open]
                rest = rest[rest.index(after: open)...]
                continue
            }
            result += rest[..<open]
            result += inURL && (name == "access_token" || name == "client_id") ? Self.percentEncoded(value) : value
            rest = rest[rest.index(after: close)...]
        }
        return result + rest
    }

    private func lookup(_ name: Substring) throws -> String? {
        func required(_ value: String?, _ what: String) throws -> String {
            guard let value, !value.isEmpty else { throw ConnectorError(.invalidSettings, message: "\(what) is required for this provider") }
            return value
        }
        if name == "access_token" { return try required(accessToken, "a credential") }
        if name == "client_id" { return try required(clientID, "a client id") }
        let parts = name.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, parts[1].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
        let key = String(parts[1])
        switch parts[0] {
        case "settings": return try required(settings[key], "the setting '\(key)'")
        case "metadata": return try required(metadata[key], "the account's \(key)")
        case "config": return try required(config[key], "the configuration value '\(key)'")
        default: return nil
        }
    }

    static func percentEncoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlUnreserved) ?? text
    }
}

extension CharacterSet {
    /// RFC 3986's unreserved characters: what a query value may hold without encoding.
    public static let urlUnreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}

extension ProviderDefinition {
    /// The provider with every call sent to `baseURL`'s origin (scheme, host and port) once its URL is rendered
    /// and checked: how an operator puts a proxy in front of a provider, and how tests reach a local fake.
    public func withBaseURL(_ baseURL: String) -> ProviderDefinition {
        var copy = self
        copy.origin = baseURL
        return copy
    }

    /// The provider with `hosts` (the operator's `allowed_hosts`: a self-hosted PostHog, say) added to its domains
    /// and to the hosts its host-valued settings may name.
    public func allowingHosts(_ hosts: [String]) -> ProviderDefinition {
        guard !hosts.isEmpty else { return self }
        var copy = self
        copy.domains = allowedDomains + hosts.map { $0.lowercased() }
        for index in copy.settings.indices where copy.settings[index].hosts != nil {
            copy.settings[index].hosts! += hosts
        }
        return copy
    }

    /// The largest settings object a connector may hold, serialized.
    public static let settingsLimit = 16 * 1024

    /// The settings a user gave, checked against this provider's declared ones, with defaults filled in. Values of
    /// declared settings go into URLs, so each must match its `pattern` (else letters, digits and `. _ - @ +`
    /// only), and a host-valued one must be one of its `hosts`. A `verified` setting is refused unless
    /// `allowVerified` (the grant checks it with the provider before it is stored).
    public func validatedSettings(_ given: [String: JSONValue], allowVerified: Bool = false) throws -> [String: JSONValue] {
        var result = given
        guard JSONValue.object(given).jsonText().utf8.count <= Self.settingsLimit else {
            throw ConnectorError(.invalidSettings, message: "settings are limited to \(Self.settingsLimit / 1024) KiB")
        }
        for setting in settings {
            switch given[setting.name] {
            case nil, .null?:
                if let value = setting.default {
                    result[setting.name] = .string(value)
                } else if setting.required {
                    throw ConnectorError(.invalidSettings, message: "\(name) needs the setting '\(setting.name)': \(setting.description)")
                }
            case .string(let value)?:
                if setting.verified == true && !allowVerified {
                    throw ConnectorError(.invalidSettings, message: "the setting '\(setting.name)' is set from what \(name) confirms, not by hand")
                }
                try setting.check(value, provider: name)
            default:
                throw ConnectorError(.invalidSettings, message: "the setting '\(setting.name)' must be a string")
            }
        }
        return result
    }

    /// `settings` with the `verified` values of `stored` carried over: a change of settings never sets, changes or
    /// drops them.
    public func keepingVerified(_ settings: [String: JSONValue], from stored: [String: JSONValue]) -> [String: JSONValue] {
        var result = settings
        for setting in self.settings where setting.verified == true {
            result[setting.name] = stored[setting.name]
        }
        return result
    }
}

extension ProviderDefinition.Setting {
    /// Checks one value of this setting; the error says what is allowed, never echoing more than the name.
    public func check(_ value: String, provider: String) throws {
        guard !value.isEmpty, value.utf8.count <= 253 else {
            throw ConnectorError(.invalidSettings, message: "the setting '\(name)' must be 1-253 characters")
        }
        if let pattern {
            guard let regex = try? Regex(pattern), (try? regex.wholeMatch(in: value)) != nil else {
                throw ConnectorError(.invalidSettings, message: "the setting '\(name)' is not in the form \(provider) uses (\(description))")
            }
        } else {
            let allowed = value.unicodeScalars.allSatisfy {
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-@+".unicodeScalars.contains($0))
            }
            guard allowed else {
                throw ConnectorError(.invalidSettings, message: "the setting '\(name)' may hold only letters, digits and . _ - @ +")
            }
        }
        if let hosts, !ProviderDefinition.host(value, matches: hosts) {
            throw ConnectorError(.invalidSettings, message: "the setting '\(name)' must be one of \(hosts.joined(separator: ", "))")
        }
    }
}

extension [String: JSONValue] {
    /// The string values, as templates read them.
    public var stringValues: [String: String] {
        var result: [String: String] = [:]
        for (key, value) in self { if let text = value.text { result[key] = text } }
        return result
    }
}

public import Foundation

/// The values a catalog template may use: `{access_token}`, `{client_id}`, `{settings.NAME}`, `{metadata.NAME}`
/// and `{config.NAME}`.
public struct TemplateValues: Sendable {
    public var accessToken: String?
    public var clientID: String?
    public var settings: [String: String]
    public var metadata: [String: String]
    public var config: [String: String]

    public init(accessToken: String? = nil, clientID: String? = nil, settings: [String: String] = [:], metadata: [String: String] = [:], config: [String: String] = [:]) {
        self.accessToken = accessToken
        self.clientID = clientID
        self.settings = settings
        self.metadata = metadata
        self.config = config
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
    /// The provider with the origin (scheme, host and port) of every endpoint replaced by `baseURL`: how an operator
    /// points a provider at a proxy, and how tests point it at a local fake.
    public func withBaseURL(_ baseURL: String) -> ProviderDefinition {
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        func rebase(_ url: String) -> String {
            // An origin that is itself a template (`{metadata.instance_url}/services/…`).
            if url.hasPrefix("{"), let close = url.firstIndex(of: "}") { return base + url[url.index(after: close)...] }
            guard let scheme = url.range(of: "://") else { return base + url }
            let afterOrigin = url[scheme.upperBound...].firstIndex(of: "/") ?? url.endIndex
            return base + url[afterOrigin...]
        }
        var copy = self
        if var oauth = copy.oauth {
            oauth.authorizeURL = rebase(oauth.authorizeURL)
            oauth.tokenURL = rebase(oauth.tokenURL)
            oauth.refreshURL = oauth.refreshURL.map(rebase)
            oauth.installationTokenURL = oauth.installationTokenURL.map(rebase)
            copy.oauth = oauth
        }
        if var revoke = copy.revoke {
            revoke.url = rebase(revoke.url)
            copy.revoke = revoke
        }
        copy.test.url = rebase(copy.test.url)
        if var account = copy.account {
            account.url = rebase(account.url)
            copy.account = account
        }
        return copy
    }

    /// The largest settings object a connector may hold, serialized.
    public static let settingsLimit = 16 * 1024

    /// The settings a user gave, checked against this provider's declared ones, with defaults filled in. Values of
    /// declared settings go into URLs and so are limited to characters that cannot change a URL's structure.
    public func validatedSettings(_ given: [String: JSONValue]) throws -> [String: JSONValue] {
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
                let allowed = !value.isEmpty && value.count <= 253
                    && value.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-@+".unicodeScalars.contains($0)) }
                guard allowed else {
                    throw ConnectorError(.invalidSettings, message: "the setting '\(setting.name)' may hold only letters, digits and . _ - @ +")
                }
            default:
                throw ConnectorError(.invalidSettings, message: "the setting '\(setting.name)' must be a string")
            }
        }
        return result
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

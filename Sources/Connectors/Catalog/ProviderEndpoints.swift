import Foundation

/// The calls resolverd makes to a provider, each at a URL one of the catalog's templates gives.
public enum ProviderCall: String, Sendable, CaseIterable {
    /// The browser's consent page (not called by resolverd, but rendered and checked the same way).
    case authorize
    /// The authorization code exchanged for tokens.
    case exchange
    /// Tokens renewed (a refresh token, or Meta's long-lived exchange).
    case refresh
    /// A GitHub App installation token.
    case installationToken = "installation_token"
    /// The installations the user's own token may reach (GitHub).
    case installations
    /// The credential revoked on disconnect.
    case revoke
    /// The cheap read of `test` and API-key validation.
    case test
    /// The account read, for the account's name.
    case account
}

/// A provider URL rendered for one connector and checked: what resolverd calls.
public struct ProviderURL: Sendable, Equatable {
    /// The URL as the provider is named: the template filled in, an absolute `https` URL on the provider's domains.
    public var rendered: String
    /// The rendered URL's host, lowercased.
    public var host: String
    /// Where the request goes: `rendered`, or, when the operator set `base_url`, the same path and query at that
    /// origin.
    public var target: String
}

extension ProviderDefinition {
    /// The template of `call`'s URL; nil when the provider has no such call.
    public func template(for call: ProviderCall) -> String? {
        switch call {
        case .authorize: oauth?.authorizeURL
        case .exchange: oauth?.tokenURL
        case .refresh: oauth.map { $0.refreshURL ?? $0.tokenURL }
        case .installationToken: oauth?.installationTokenURL
        case .installations: oauth?.installationsURL
        case .revoke: revoke?.url
        case .test: test.url
        case .account: account?.url
        }
    }

    /// Every URL template of the provider.
    var templates: [String] { ProviderCall.allCases.compactMap(template(for:)) }

    /// The domains calls may go to: the declared ones, else the literal hosts of the provider's own URLs.
    public var allowedDomains: [String] {
        if let domains, !domains.isEmpty { return domains.map { $0.lowercased() } }
        return templates.compactMap { template in
            guard !Self.hostPart(of: template).contains("{") else { return nil }
            return URLComponents(string: template)?.host?.lowercased()
        }
    }

    /// True when `host` is one of the provider's domains or a host under one.
    public func allows(host: String) -> Bool {
        let host = host.lowercased()
        guard Self.isHostName(host) else { return false }
        return allowedDomains.contains { host == $0 || host.hasSuffix("." + $0) }
    }

    /// The URL of `call` for a connector with `values`: the one function through which every URL resolverd calls is
    /// made. The template is rendered, then checked: an absolute URL, no placeholder left, no user info, its host
    /// on the provider's domains; where the host comes from a value (a setting, Salesforce's `instance_url`), also
    /// `https` on the default port. (An origin written out in the catalog or by the operator, a custom provider on
    /// a private `http` address say, is theirs to choose.) Only then does the operator's `base_url` move the
    /// origin. A user's setting or a provider's answer can so never send a client secret or a token to a host
    /// outside the provider's own.
    public func url(for call: ProviderCall, values: TemplateValues) throws -> ProviderURL {
        guard let template = template(for: call) else {
            throw ConnectorError(.invalidSettings, message: "\(name) has no \(call.rawValue) call")
        }
        let rendered = try values.render(template, inURL: true)
        func refuse(_ why: String) -> ConnectorError {
            ConnectorError(.invalidSettings, message: "the \(call.rawValue) URL of \(name) \(why)")
        }
        guard !rendered.contains("{"), !rendered.contains("}") else { throw refuse("has a placeholder left") }
        let literalOrigin = !Self.hostPart(of: template).contains("{")
        guard let components = URLComponents(string: rendered), let scheme = components.scheme?.lowercased(),
            scheme == "https" || (literalOrigin && scheme == "http"), let host = components.host?.lowercased(), !host.isEmpty
        else { throw refuse("is not an absolute https URL") }
        guard components.user == nil, components.password == nil else { throw refuse("may not name a user") }
        guard literalOrigin || components.port == nil || components.port == 443 else { throw refuse("may not name a port") }
        guard allows(host: host) else { throw refuse("would go to \(host.prefix(64)), which is not on its domains") }
        var target = rendered
        if let origin {
            // Path and query of the rendered URL, as they were rendered.
            let afterOrigin = rendered.range(of: "://").flatMap { rendered[$0.upperBound...].firstIndex(of: "/") } ?? rendered.endIndex
            target = (origin.hasSuffix("/") ? String(origin.dropLast()) : origin) + rendered[afterOrigin...]
        }
        return ProviderURL(rendered: rendered, host: host, target: target)
    }

    /// The provider's answer's facts (`instance_url`…) that may be stored: a fact that names a URL is kept only
    /// when it is an https origin on the provider's domains, since later calls are made to it.
    public func acceptedFacts(_ facts: [String: String]) -> (accepted: [String: String], refused: [String]) {
        var accepted: [String: String] = [:]
        var refused: [String] = []
        for (key, value) in facts {
            guard key.hasSuffix("_url") else {
                accepted[key] = value
                continue
            }
            if let components = URLComponents(string: value), components.scheme?.lowercased() == "https", let host = components.host,
                components.user == nil, components.password == nil, components.port == nil, components.query == nil,
                components.fragment == nil, components.path.isEmpty || components.path == "/", allows(host: host)
            {
                accepted[key] = value.hasSuffix("/") ? String(value.dropLast()) : value
            } else {
                refused.append(key)
            }
        }
        return (accepted, refused.sorted())
    }

    /// The host part of a URL template (between `://` and the next `/`), or the whole template's leading
    /// placeholder when it starts with one (`{metadata.instance_url}/…`).
    static func hostPart(of template: String) -> Substring {
        if template.hasPrefix("{") { return template[...] }
        guard let scheme = template.range(of: "://") else { return template[...] }
        let rest = template[scheme.upperBound...]
        return rest[..<(rest.firstIndex(of: "/") ?? rest.endIndex)]
    }

    /// A DNS host name: dot-separated labels of letters, digits and inner hyphens.
    public static func isHostName(_ host: String) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 253 else { return false }
        return host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isLabel)
    }

    static func isLabel(_ label: Substring) -> Bool {
        guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-" else { return false }
        return label.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || ($0 >= 0x41 && $0 <= 0x5A) }
    }

    /// True when `host` is one of `entries`: each an exact host, or `*.` and a domain (one or more labels under it).
    static func host(_ host: String, matches entries: [String]) -> Bool {
        let host = host.lowercased()
        guard isHostName(host) else { return false }
        return entries.contains { entry in
            let entry = entry.lowercased()
            if entry.hasPrefix("*.") { return host.hasSuffix(String(entry.dropFirst(1))) && host.count > entry.count - 1 }
            return host == entry
        }
    }
}

import Foundation

/// Where a browser may be sent back after a grant (the `redirect_uri` a caller names at authorize): the operator's
/// list of absolute URLs, matched on scheme, host, port and path exactly. Anything else a caller names would turn
/// resolverd into an open redirect that carries the grant's outcome to a host of the caller's choosing.
public struct RedirectAllowlist: Sendable {
    private let entries: [URLComponents]

    /// Fails with the first entry that is not an absolute URL.
    public init(_ entries: [String]) throws(InvalidEntry) {
        var parsed: [URLComponents] = []
        for entry in entries {
            guard let components = URLComponents(string: entry), components.scheme != nil, components.host != nil else {
                throw InvalidEntry(entry: entry)
            }
            parsed.append(components)
        }
        self.entries = parsed
    }

    public struct InvalidEntry: Error, Sendable {
        public var entry: String
    }

    /// True when `uri` has the same scheme, host, port and path as one entry, and no fragment or user info.
    public func allows(_ uri: String) -> Bool {
        guard let candidate = URLComponents(string: uri), candidate.fragment == nil, candidate.user == nil, candidate.password == nil else {
            return false
        }
        return entries.contains { allowed in
            allowed.scheme?.lowercased() == candidate.scheme?.lowercased() && allowed.host?.lowercased() == candidate.host?.lowercased()
                && Self.port(allowed) == Self.port(candidate)
                && (allowed.path.isEmpty ? "/" : allowed.path) == (candidate.path.isEmpty ? "/" : candidate.path)
        }
    }

    private static func port(_ components: URLComponents) -> Int? {
        components.port ?? (components.scheme?.lowercased() == "https" ? 443 : components.scheme?.lowercased() == "http" ? 80 : nil)
    }
}

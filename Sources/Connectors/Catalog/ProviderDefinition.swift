/// One provider of the catalog, in the catalog file's own format (`Catalog/providers.json`; custom providers in
/// the config file use it too), read and written with ``JSONCoding``.
public struct ProviderDefinition: Sendable, Codable, Hashable {
    public var slug: String
    public var name: String
    public var type: ConnectorType
    public var roles: [ConnectorRole]
    public var docsURL: String?
    public var notes: String?
    public var settings: [Setting]
    public var oauth: OAuth?
    public var revoke: Revocation?
    public var test: HTTPCall
    public var account: HTTPCall?
    /// The domains every call may go to: a host is allowed when it is one of them or ends in `.` and one of them.
    /// Absent (custom providers), the literal hosts of the provider's own URLs; a provider whose URL takes its host
    /// from a setting must declare them.
    public var domains: [String]?
    /// Where calls really go: the operator's `base_url` (a proxy, or a local fake in tests) replaces the origin of
    /// every URL after it is rendered and checked. Not part of the catalog format.
    public var origin: String? = nil

    /// A per-account value the user supplies (a shop, a subdomain, an email for Basic).
    public struct Setting: Sendable, Codable, Hashable {
        public var name: String
        public var description: String
        public var required: Bool
        public var `default`: String?
        /// A regular expression the whole value must match (say one DNS label, or digits only).
        public var pattern: String?
        /// For a setting that is a whole host name: the hosts it may be, each exact or `*.` and a domain (one or
        /// more labels under it). The operator may add hosts in the config file (`allowed_hosts`).
        public var hosts: [String]?
        /// Set only from what the provider itself confirmed (a GitHub installation the user's own token lists),
        /// never taken as the user gives it: a user-given value is checked at the grant and cannot be changed later.
        public var verified: Bool?
    }

    public struct OAuth: Sendable, Codable, Hashable {
        public var authorizeURL: String
        public var tokenURL: String
        public var refreshURL: String?
        public var clientAuth: ClientAuthentication
        public var tokenRequestFormat: BodyFormat?
        public var tokenRequestMethod: String?
        public var clientIDParam: String?
        public var clientSecretParam: String?
        public var codeParam: String?
        public var pkce: PKCESupport
        public var scopes: [String]
        public var scopeSeparator: String?
        public var authorizeParams: [String: String]?
        public var tokenParams: [String: String]?
        public var grantType: GrantType
        public var refreshTokenRotation: RefreshTokenRotation?
        public var omitsRefreshTokenOnRefresh: Bool?
        public var defaultLifetimeSeconds: Int?
        public var keepAliveSeconds: Int?
        public var errorStyle: ErrorStyle?
        public var permanentErrors: [String]?
        public var installationTokenURL: String?
        /// The installations the user's own token may reach (GitHub's `GET /user/installations`): how a
        /// `verified` installation id is checked.
        public var installationsURL: String?
    }

    public enum ClientAuthentication: String, Sendable, Codable, Hashable {
        case basic = "client_secret_basic"
        case post = "client_secret_post"
        case json = "client_secret_json"
        case query
    }

    public enum BodyFormat: String, Sendable, Codable, Hashable { case form, json }

    public enum PKCESupport: String, Sendable, Codable, Hashable { case none, supported, required }

    public enum GrantType: String, Sendable, Codable, Hashable {
        case refreshToken = "refresh_token"
        case metaLongLived = "meta_long_lived"
        case githubAppInstallation = "github_app_installation"
        case neverExpires = "never_expires"
    }

    public enum RefreshTokenRotation: String, Sendable, Codable, Hashable {
        case rotates, singleUse = "single_use", never, noneIssued = "none_issued"
    }

    /// How a provider spells its errors: RFC 6749 bodies, or one of the known variants (PROVIDERS.md).
    public enum ErrorStyle: String, Sendable, Codable, Hashable { case oauth, github, tiktok, meta, figma }

    public struct Revocation: Sendable, Codable, Hashable {
        public var url: String
        public var method: String
        public var style: Style
        public var token: TokenKind

        public enum Style: String, Sendable, Codable, Hashable {
            case rfc7009, queryToken = "query_token", bearer, basicClient = "basic_client"
        }

        public enum TokenKind: String, Sendable, Codable, Hashable {
            case accessToken = "access_token", refreshToken = "refresh_token"
        }
    }

    /// A request made with the credential: the cheap read of `test` and key validation, or the account read.
    public struct HTTPCall: Sendable, Codable, Hashable {
        public var url: String
        public var method: String
        public var headers: [String: String]?
        public var basic: BasicCredentials?
        public var body: String?
        public var accountNamePath: String?

        public struct BasicCredentials: Sendable, Codable, Hashable {
            public var username: String
            public var password: String
        }
    }

    /// Every field but `origin`: a catalog entry or an override must not say where calls go.
    enum CodingKeys: CodingKey {
        case slug, name, type, roles, docsURL, notes, settings, oauth, revoke, test, account, domains
    }

    /// What the connectors API tells clients this provider can do.
    public var canRefresh: Bool {
        guard type == .oauth, let oauth else { return false }
        return oauth.grantType != .neverExpires
    }
}

/// What a connector is used for in a workspace. A `primary_*` role is held by one connector of a workspace.
public enum ConnectorRole: String, Sendable, Codable, Hashable, CaseIterable {
    case source
    case sink
    case primaryDataSource = "primary_data_source"
    case crmSink = "crm_sink"

    /// True for roles that only one connector of a workspace may hold at a time.
    public var isExclusive: Bool { self == .primaryDataSource }
}

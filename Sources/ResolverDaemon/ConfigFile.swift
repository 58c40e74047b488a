import Connectors
import Foundation
import RefreshScheduler
import ResolverCrypto

/// The optional config file (`RESOLVERD_CONFIG`, JSON read by ``JSONCoding``: `publicURL` is `public_url`): what
/// does not fit an environment variable. Secrets are never in it, only the paths of files that hold them
/// (`client_secret_file`, `secret_file`).
struct ConfigFile: Decodable, Sendable {
    /// The daemon's public origin, as browsers reach it: the OAuth callback is `{public_url}/api/oauth/{provider}/callback`.
    var publicURL: String?
    /// Where a browser may be sent back after a grant (`redirect_uri` of authorize): exact scheme, host, port and path.
    var redirectAllowlist: [String]?
    var sessionJWT: SessionJWT?
    /// Per provider: the client registration, a base URL override, operator values and a partial catalog entry.
    var providers: [String: ProviderSettings]?
    /// Whole providers in the catalog's own format.
    var customProviders: [JSONValue]?
    /// How long a provider call may take, in seconds (default 15).
    var providerTimeoutSeconds: Int?
    var refresh: Refresh?
    var webhook: Webhook?
    /// Resolve answers kept in memory; `RESOLVERD_CACHE_SIZE` wins when both are set.
    var cacheSize: Int?
    var oauth: OAuth?

    /// How OAuth grants complete.
    struct OAuth: Decodable, Sendable {
        /// The callback holds the tokens until the user who started the grant confirms it
        /// (`POST /api/oauth/{provider}/confirm`), against login CSRF.
        var requireConfirmation: Bool?
    }

    /// The refresh scheduler's knobs; absent ones keep their defaults.
    struct Refresh: Decodable, Sendable {
        /// A fixed lead before expiry; default 10 % of the lifetime, at least 5 minutes, at most half the lifetime.
        var leadSeconds: Int?
        var concurrency: Int?
        var perProviderConcurrency: Int?
        var batchSize: Int?
        var leaseSeconds: Int?
        var baseBackoffSeconds: Int?
        var maximumBackoffSeconds: Int?
        /// The shortest refresh budget (default 10): one provider refresh per connector per max(this, lifetime / 4).
        var budgetFloorSeconds: Int?
    }

    /// Where `needs_reauth` events are POSTed, signed with HMAC-SHA256 by the secret in `secret_file`.
    struct Webhook: Decodable, Sendable {
        var url: String
        var secretFile: String
    }

    struct SessionJWT: Decodable, Sendable {
        /// HS256 (with `secret_file`), RS256 or ES256 (with `public_key_file`).
        var algorithm: String
        var secretFile: String?
        var publicKeyFile: String?
        var issuer: String?
        var audience: String?
        var leewaySeconds: Int?
    }

    struct ProviderSettings: Decodable, Sendable {
        var clientID: String?
        var clientSecretFile: String?
        var baseURL: String?
        /// Values for `{config.NAME}` in the catalog's templates (a Google Ads developer token's file is better: see `value_files`).
        var values: [String: String]?
        /// Values read from files, for `{config.NAME}` that are secret.
        var valueFiles: [String: String]?
        /// A partial catalog entry merged over the built-in one (RFC 7386).
        var override: JSONValue?
        /// A GitHub App's id and private key file, for installation tokens.
        var appID: String?
        var privateKeyFile: String?
        /// Hosts besides the provider's own that its host-valued settings may name (a self-hosted PostHog).
        var allowedHosts: [String]?
    }

    static func load(path: String) throws -> ConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SettingsError(setting: "RESOLVERD_CONFIG", reason: "cannot read \(path)")
        }
        do {
            return try JSONCoding.decoder.decode(ConfigFile.self, from: data)
        } catch let error as DecodingError {
            throw SettingsError(setting: "RESOLVERD_CONFIG", reason: "\(path): \(error.readableDescription)")
        }
    }
}

/// What the connectors API needs from the configuration, validated once at start.
struct ConnectorsSettings: Sendable {
    var catalog: ProviderCatalog
    /// The OAuth clients, GitHub Apps and template values of the file's `providers`.
    var registrations: ProviderRegistrations
    var redirectAllowlist: RedirectAllowlist
    /// The origin of the OAuth callback URL sent to providers.
    var publicURL: String
    var sessionVerifier: JWTVerifier?
    var providerTimeout: Duration
    var refresh: RefreshConfiguration
    /// `cache_size` from the file, checked; nil when absent.
    var cacheSize: Int?
    /// `oauth.require_confirmation`: callbacks hold tokens until the initiating user confirms the grant.
    var requireConfirmation: Bool

    init(file: ConfigFile?, listen: ListenAddress) throws {
        let file = file ?? ConfigFile()
        var patches: [String: JSONValue] = [:]
        for (slug, provider) in file.providers ?? [:] {
            if let override = provider.override { patches[slug] = override }
        }
        var catalog: ProviderCatalog
        do {
            catalog = try ProviderCatalog.builtIn()
            let known = Set(catalog.providers.map(\.slug))
            // Overrides of custom providers are applied after they are added.
            catalog = try catalog.applying(patches: patches.filter { known.contains($0.key) }, additions: file.customProviders ?? [])
            catalog = try catalog.applying(patches: patches.filter { !known.contains($0.key) }, additions: [])
        } catch let error as CatalogError {
            throw SettingsError(setting: "RESOLVERD_CONFIG", reason: error.description)
        }
        var rebased = catalog.providers
        var registrations = ProviderRegistrations()
        for (slug, provider) in file.providers ?? [:] {
            guard let index = rebased.firstIndex(where: { $0.slug == slug }) else {
                throw SettingsError(setting: "RESOLVERD_CONFIG", reason: "providers.\(slug): no such provider in the catalog")
            }
            if let hosts = provider.allowedHosts {
                guard hosts.allSatisfy(ProviderDefinition.isHostName) else {
                    throw SettingsError(setting: "RESOLVERD_CONFIG", reason: "providers.\(slug).allowed_hosts: each entry must be a host name")
                }
                rebased[index] = rebased[index].allowingHosts(hosts)
            }
            if let base = provider.baseURL {
                guard let url = URL(string: base), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                    throw SettingsError(setting: "RESOLVERD_CONFIG", reason: "providers.\(slug).base_url is not an http(s) URL")
                }
                rebased[index] = rebased[index].withBaseURL(base)
            }
            if let clientID = provider.clientID {
                let secret = try provider.clientSecretFile.map { try Self.readSecret($0, setting: "providers.\(slug).client_secret_file") }
                registrations.clients[slug] = OAuthClient(clientID: clientID, clientSecret: secret)
            }
            var providerValues = provider.values ?? [:]
            for (name, path) in provider.valueFiles ?? [:] {
                providerValues[name] = try Self.readSecret(path, setting: "providers.\(slug).value_files.\(name)")
            }
            registrations.values[slug] = providerValues
            if let appID = provider.appID {
                guard let keyFile = provider.privateKeyFile else {
                    throw SettingsError(setting: "RESOLVERD_CONFIG", reason: "providers.\(slug): app_id needs private_key_file")
                }
                do {
                    registrations.apps[slug] = try GitHubApp(
                        appID: appID, privateKeyPEM: try Self.readSecret(keyFile, setting: "providers.\(slug).private_key_file"))
                } catch let error as CryptoError {
                    throw SettingsError(setting: "RESOLVERD_CONFIG", reason: "providers.\(slug).private_key_file: \(error)")
                }
            }
        }
        self.registrations = registrations
        do {
            self.catalog = try ProviderCatalog(rebased)
        } catch let error as CatalogError {
            throw SettingsError(setting: "RESOLVERD_CONFIG", reason: error.description)
        }
        do {
            redirectAllowlist = try RedirectAllowlist(file.redirectAllowlist ?? [])
        } catch {
            throw SettingsError(setting: "RESOLVERD_CONFIG", reason: "redirect_allowlist: '\(error.entry)' is not an absolute URL")
        }
        let host = listen.host == "0.0.0.0" || listen.host == "::" ? "127.0.0.1" : listen.host
        publicURL =
            file.publicURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
            ?? "http://\(host.contains(":") ? "[\(host)]" : host):\(listen.port)"
        providerTimeout = .seconds(file.providerTimeoutSeconds ?? 15)
        if let size = file.cacheSize, !DaemonSettings.cacheSizes.contains(size) {
            throw SettingsError(setting: "RESOLVERD_CONFIG", reason: "cache_size \(size) is not a number from 0 to 10000000")
        }
        cacheSize = file.cacheSize
        requireConfirmation = file.oauth?.requireConfirmation ?? false
        refresh = try Self.refreshConfiguration(file)
        sessionVerifier = try file.sessionJWT.map(Self.verifier)
    }

    private static func refreshConfiguration(_ file: ConfigFile) throws -> RefreshConfiguration {
        var configuration = RefreshConfiguration()
        func positive(_ value: Int?, _ name: String, _ apply: (Int) -> Void) throws {
            guard let value else { return }
            guard value > 0 else { throw SettingsError(setting: "RESOLVERD_CONFIG", reason: "refresh.\(name) must be positive") }
            apply(value)
        }
        let refresh = file.refresh
        try positive(refresh?.leadSeconds, "lead_seconds") { configuration.timing.configuredLead = .seconds($0) }
        try positive(refresh?.concurrency, "concurrency") { configuration.concurrency = $0 }
        try positive(refresh?.perProviderConcurrency, "per_provider_concurrency") { configuration.perProviderConcurrency = $0 }
        try positive(refresh?.batchSize, "batch_size") { configuration.batchSize = $0 }
        try positive(refresh?.leaseSeconds, "lease_seconds") { configuration.lease = .seconds($0) }
        try positive(refresh?.baseBackoffSeconds, "base_backoff_seconds") { configuration.baseBackoff = .seconds($0) }
        try positive(refresh?.maximumBackoffSeconds, "maximum_backoff_seconds") { configuration.maximumBackoff = .seconds($0) }
        try positive(refresh?.budgetFloorSeconds, "budget_floor_seconds") { configuration.budgetFloor = .seconds($0) }
        if let webhook = file.webhook {
            guard let url = URL(string: webhook.url), ["http", "https"].contains(url.scheme ?? "") else {
                throw SettingsError(setting: "RESOLVERD_CONFIG", reason: "webhook.url is not an http(s) URL")
            }
            let secret = try readSecret(webhook.secretFile, setting: "webhook.secret_file")
            configuration.webhook = WebhookConfiguration(url: webhook.url, secret: Array(secret.utf8))
        }
        return configuration
    }

    private static func verifier(_ jwt: ConfigFile.SessionJWT) throws -> JWTVerifier {
        let key: SignatureVerifier
        do {
            switch jwt.algorithm.uppercased() {
            case "HS256":
                guard let path = jwt.secretFile else {
                    throw SettingsError(setting: "RESOLVERD_CONFIG", reason: "session_jwt: HS256 needs secret_file")
                }
                let secret = try readSecret(path, setting: "session_jwt.secret_file")
                guard secret.utf8.count >= 32 else {
                    throw SettingsError(setting: "RESOLVERD_CONFIG", reason: "session_jwt: the HS256 secret is shorter than 32 bytes")
                }
                key = try .hs256(secret: Array(secret.utf8))
            case "RS256", "ES256":
                guard let path = jwt.publicKeyFile else {
                    throw SettingsError(setting: "RESOLVERD_CONFIG", reason: "session_jwt: \(jwt.algorithm) needs public_key_file")
                }
                let pem = try readSecret(path, setting: "session_jwt.public_key_file", secret: false)
                key = jwt.algorithm.uppercased() == "RS256" ? try .rs256(publicKeyPEM: pem) : try .es256(publicKeyPEM: pem)
            default:
                throw SettingsError(setting: "RESOLVERD_CONFIG", reason: "session_jwt.algorithm must be HS256, RS256 or ES256")
            }
        } catch let error as CryptoError {
            throw SettingsError(setting: "RESOLVERD_CONFIG", reason: "session_jwt: \(error)")
        }
        return JWTVerifier(key: key, issuer: jwt.issuer, audience: jwt.audience, leeway: TimeInterval(jwt.leewaySeconds ?? 60))
    }

    /// A secret file's text (see ``SecretFile``); the error names the file, never its content.
    static func readSecret(_ path: String, setting: String, secret: Bool = true) throws -> String {
        do {
            return try SecretFile.read(path, setting: setting, secret: secret)
        } catch let error as SettingsError {
            throw SettingsError(setting: "RESOLVERD_CONFIG", reason: "\(error.setting): \(error.reason)")
        }
    }
}

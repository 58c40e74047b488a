/// What the operator registered at each provider, by slug (the config file's `providers`): OAuth clients, GitHub
/// Apps, and the values of `{config.NAME}` in the catalog's templates.
public struct ProviderRegistrations: Sendable {
    public var clients: [String: OAuthClient]
    public var apps: [String: GitHubApp]
    public var values: [String: [String: String]]

    public init(clients: [String: OAuthClient] = [:], apps: [String: GitHubApp] = [:], values: [String: [String: String]] = [:]) {
        self.clients = clients
        self.apps = apps
        self.values = values
    }

    /// The template values of a connector of `provider`: its credential, settings and metadata as stored, with the
    /// registration's client id and values.
    public func templateValues(provider: String, accessToken: String?, settingsJSON: String, metadataJSON: String) -> TemplateValues {
        TemplateValues(
            accessToken: accessToken, clientID: clients[provider]?.clientID, settingsJSON: settingsJSON, metadataJSON: metadataJSON,
            config: values[provider] ?? [:])
    }

    /// The template values of a grant of `provider` being started, before any credential: its settings as given.
    public func templateValues(provider: String, settings: [String: String]) -> TemplateValues {
        TemplateValues(clientID: clients[provider]?.clientID, settings: settings, config: values[provider] ?? [:])
    }
}

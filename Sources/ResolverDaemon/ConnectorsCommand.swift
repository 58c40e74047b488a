import ArgumentParser
import Connectors
import Foundation
import Logging
import PGClient
import RefreshScheduler
import ResolverCrypto

/// `resolverd connectors …`: an operator's view of stored connectors.
struct ConnectorsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connectors",
        abstract: "Import, list and delete stored connectors (secrets are read from files and never printed).",
        subcommands: [Put.self, List.self, Delete.self]
    )

    /// The store on the configured database and keys (or the development setup's).
    static func withStore(_ body: (ConnectorStore) async throws -> Void) async throws {
        let settings = try DaemonSettings(environment: ProcessInfo.processInfo.environment)
        let logger = DaemonLogging.makeLogger(label: "resolverd.connectors", level: settings.logLevel)
        var keysDirectory = settings.keysDirectory
        if settings.isDevelopmentSetup {
            let setup = try DevelopmentSetup(dataDirectory: settings.dataDirectory)
            keysDirectory = keysDirectory ?? setup.keysDirectory
        }
        guard let keysDirectory else { throw SettingsError(setting: "RESOLVERD_KEYS_DIR", reason: "not set") }
        let keyring: Keyring
        do {
            keyring = try Keyring(directory: keysDirectory, activeKeyID: settings.activeKeyID)
        } catch let error as CryptoError {
            throw SettingsError(setting: "RESOLVERD_KEYS_DIR", reason: "\(error)")
        }
        try await DatabaseHandle.with(settings: settings, logger: logger) { pool in
            try await body(ConnectorStore(pool: pool, cipher: CredentialCipher(keyring: keyring)))
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store a credential for a user and provider, encrypted; replaces the one stored before.",
            discussion: """
                --api-key-file holds the key alone. --oauth-json holds {"access_token": …, "refresh_token": …, \
                "expires_at": "RFC 3339", "scopes": […]} as a provider returned it.
                """
        )
        @Option(help: "The user the credential belongs to.") var user: String
        @Option(help: "The provider slug (stripe, gmail, …).") var provider: String
        @Option(help: "The workspace, if any.") var workspace: String?
        @Option(help: "A file holding the API key.") var apiKeyFile: String?
        @Option(name: .customLong("oauth-json"), help: "A file holding the OAuth tokens as JSON.") var oauthJSON: String?

        struct OAuthTokens: Decodable {
            var accessToken: String
            var refreshToken: String?
            var expiresAt: Date?
            var scopes: [String]?
        }

        func validate() throws {
            guard (apiKeyFile == nil) != (oauthJSON == nil) else { throw ValidationError("give exactly one of --api-key-file and --oauth-json") }
            guard UserIDs.isValid(user) else { throw ValidationError("--user must be \(UserIDs.rule)") }
        }

        func run() async throws {
            let credential: Credential
            if let apiKeyFile {
                let key = try String(contentsOfFile: apiKeyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                guard !key.isEmpty else { throw ValidationError("\(apiKeyFile) is empty") }
                credential = Credential(type: .apiKey, accessToken: key)
            } else {
                let tokens: OAuthTokens
                do {
                    tokens = try JSONCoding.decoder.decode(OAuthTokens.self, from: Data(contentsOf: URL(fileURLWithPath: oauthJSON!)))
                } catch {
                    throw ValidationError("\(oauthJSON!) is not {\"access_token\": …} JSON with an RFC 3339 expires_at")
                }
                credential = Credential(
                    type: .oauth, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt: tokens.expiresAt,
                    scopes: tokens.scopes ?? [])
            }
            // An imported OAuth token is scheduled for refresh like one connected through the API.
            let connectors = try DaemonSettings(environment: ProcessInfo.processInfo.environment).connectorsSettings()
            let next = RefreshPlanner(timing: connectors.refresh.timing).nextRefresh(
                provider: connectors.catalog.provider(provider), expiresAt: credential.expiresAt)
            try await ConnectorsCommand.withStore { store in
                let record = try await store.put(
                    userID: user, workspaceID: workspace, provider: provider, credential: credential,
                    nextRefreshAt: credential.type == .oauth ? next : nil)
                print("stored \(record.id) (\(record.provider) for \(record.userID))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List connectors (never their secrets).")
        @Option(help: "Only this user's.") var user: String?

        func run() async throws {
            try await ConnectorsCommand.withStore { store in
                let records = try await store.list(userID: user)
                print("id                             user                 provider         type     status        expires_at")
                for record in records {
                    let expires = record.expiresAt.map { $0.formatted(.iso8601) } ?? "-"
                    print(
                        [
                            record.id.padded(30), record.userID.padded(20), record.provider.padded(16), record.type.rawValue.padded(8),
                            record.status.rawValue.padded(13), expires,
                        ].joined(separator: " "))
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user's connector, by id or provider slug.")
        @Option(help: "The user the connector belongs to.") var user: String
        @Argument(help: "The connector id (ct_…) or provider slug.") var reference: String

        func run() async throws {
            try await ConnectorsCommand.withStore { store in
                guard try await store.delete(userID: user, reference: reference) else {
                    print("no connector \(reference) for \(user)")
                    throw ExitCode(1)
                }
                print("deleted \(reference) of \(user)")
            }
        }
    }
}

extension String {
    fileprivate func padded(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

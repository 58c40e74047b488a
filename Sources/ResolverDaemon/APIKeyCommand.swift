import ArgumentParser
import Connectors
import Foundation
import Logging

/// `resolverd apikey …`: user API keys (`tnx_…`) for the connectors API.
struct APIKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apikey",
        abstract: "Create, list and revoke user API keys for the connectors API.",
        discussion: "A key is printed once, when it is created; resolverd keeps only its SHA-256.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    static func withKeys(_ body: (APIKeyStore) async throws -> Void) async throws {
        let settings = try DaemonSettings(environment: ProcessInfo.processInfo.environment)
        let logger = DaemonLogging.makeLogger(label: "resolverd.apikey", level: settings.logLevel)
        try await DatabaseHandle.with(settings: settings, logger: logger) { pool in try await body(APIKeyStore(pool: pool)) }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key for a user and print it once.")
        @Option(help: "The user the key acts for.") var user: String
        @Option(help: "The workspace the key is bound to, if any.") var workspace: String?
        @Option(help: "A name to tell keys apart.") var name: String = ""

        func validate() throws {
            guard UserIDs.isValid(user) else { throw ValidationError("--user must be \(UserIDs.rule)") }
        }

        func run() async throws {
            try await APIKeyCommand.withKeys { keys in
                let (key, secret) = try await keys.create(userID: user, workspaceID: workspace, name: name)
                print("created \(key.id) for user \(key.userID)\(key.workspaceID.map { " (workspace \($0))" } ?? "")")
                print("key (shown once, store it now): \(secret)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (their prefixes, never the keys).")
        @Option(help: "Only this user's keys.") var user: String?

        func run() async throws {
            try await APIKeyCommand.withKeys { keys in
                for key in try await keys.list(userID: user) {
                    let state = key.revokedAt.map { "revoked \($0.formatted(.iso8601))" } ?? "active"
                    let used = key.lastUsedAt.map { $0.formatted(.iso8601) } ?? "never"
                    print(
                        "\(key.id)  \(key.prefix)…  user=\(key.userID)  workspace=\(key.workspaceID ?? "-")  name=\(key.name.isEmpty ? "-" : key.name)  \(state)  last used \(used)"
                    )
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by its id (ak_…); it stops working at once.")
        @Argument(help: "The key's id.") var id: String

        func run() async throws {
            try await APIKeyCommand.withKeys { keys in
                guard try await keys.revoke(id: id) else {
                    print("no active key \(id)")
                    throw ExitCode(1)
                }
                print("revoked \(id)")
            }
        }
    }
}

import Connectors
import Foundation
import Logging
import PGClient
import PGLocalCluster
import ResolverCrypto

/// What `resolverd serve` uses when no database is configured: a private PostgreSQL cluster, a generated
/// encryption key and services token, and a sample connector, all under the data directory. Never for production.
struct DevelopmentSetup {
    static let userID = "dev-user"
    static let provider = "stripe"

    let cluster: PGLocalCluster
    let keysDirectory: String
    let tokensFile: String
    /// The plain services token, kept (mode 0600) so the README's curl can read it.
    let tokenFile: String

    init(dataDirectory: URL) throws {
        cluster = try PGLocalCluster(options: PGLocalCluster.Options(dataDirectory: dataDirectory.appendingPathComponent("postgres")))
        keysDirectory = dataDirectory.appendingPathComponent("keys").path
        tokensFile = dataDirectory.appendingPathComponent("services-tokens").path
        tokenFile = dataDirectory.appendingPathComponent("services-token").path
    }

    /// Starts the cluster if it is not running; creates the key and the token the first time. Returns true
    /// when this call started the cluster (so shutdown stops it).
    func prepare(logger: Logger) async throws -> Bool {
        let fileManager = FileManager.default
        // The data directory must stay traversable for the cluster's own account (PostgreSQL runs unprivileged).
        let dataDirectory = URL(fileURLWithPath: keysDirectory).deletingLastPathComponent().path
        try fileManager.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
        try fileManager.createDirectory(atPath: keysDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        if (try fileManager.contentsOfDirectory(atPath: keysDirectory)).isEmpty {
            try Keyring.generateKeyFile(at: keysDirectory + "/dev-1")
            logger.notice("generated a development encryption key", metadata: ["path": "\(keysDirectory)/dev-1"])
        }
        if !fileManager.fileExists(atPath: tokensFile) {
            let token = "dev_" + Hex.encode(try SecureRandom.bytes(count: 24))
            try write("dev \(token)\n", to: tokensFile)
            try write(token + "\n", to: tokenFile)
            print(
                """
                resolverd development setup: services token for X-Reeve-Services-Token (also in \(tokenFile)):
                  \(token)
                This is a development setup (embedded PostgreSQL, generated key and token); do not use it in production.
                """)
        }
        guard try await !cluster.isRunning() else { return false }
        logger.notice("starting the embedded development PostgreSQL", metadata: ["data_dir": "\(cluster.options.dataDirectory.path)"])
        try await cluster.start()
        return true
    }

    /// Stores a sample API-key connector for `dev-user` the first time, so a resolve works at once.
    func seed(store: ConnectorStore, logger: Logger) async throws {
        guard try await store.resolve(userID: Self.userID, provider: Self.provider) == nil else { return }
        let sample = "sk_test_dev_" + Hex.encode(try SecureRandom.bytes(count: 12))
        try await store.put(
            userID: Self.userID, provider: Self.provider, credential: Credential(type: .apiKey, accessToken: sample),
            metadataJSON: #"{"account_name": "Development"}"#)
        logger.notice("stored a sample connector", metadata: ["user_id": "\(Self.userID)", "provider": "\(Self.provider)"])
    }

    private func write(_ text: String, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw SettingsError(setting: "RESOLVERD_DATA_DIR", reason: "cannot write \(path)")
        }
    }
}

import Foundation
import Logging
import PGClient

/// The settings of DESIGN.md's configuration table, read from the environment and validated once at start.
struct DaemonSettings: Sendable {
    /// nil: the embedded development cluster under `dataDirectory`.
    var database: PGConnectionConfiguration?
    var dataDirectory: URL
    var logLevel: Logger.Level
    var listen: ListenAddress
    var adminListen: ListenAddress
    var servicesTokensFile: String?
    var keysDirectory: String?
    var activeKeyID: String?
    /// Apply pending migrations at start (`RESOLVERD_MIGRATE_ON_START=true`; always in the dev setup).
    var migrateOnStart: Bool
    /// Resolve answers kept in memory (`RESOLVERD_CACHE_SIZE`); 0 disables the cache. nil: the config file's
    /// `cache_size`, else ``defaultCacheSize``.
    var cacheSize: Int?
    static let defaultCacheSize = 10_000
    static let cacheSizes = 0...10_000_000
    /// The most database connections this replica opens (`RESOLVERD_DB_POOL_SIZE`).
    var poolSize: Int
    static let defaultPoolSize = 16
    /// How many single statements may share one database connection (`RESOLVERD_DB_PIPELINE_DEPTH`); 1 gives each
    /// statement a connection of its own.
    var pipelineDepth: Int
    static let defaultPipelineDepth = 4
    /// Threads reading the database connections (`RESOLVERD_PG_IO_THREADS`), handed to PGClient before the first
    /// connection opens.
    var pgIOThreads: Int
    /// The config file (`RESOLVERD_CONFIG`): providers' clients and overrides, redirect allow-list, session JWT keys.
    var configFile: String?
    /// Idle and request read timeouts and the connection limit of both listeners (`RESOLVERD_IDLE_TIMEOUT_SECONDS`,
    /// `RESOLVERD_REQUEST_READ_TIMEOUT_SECONDS`, `RESOLVERD_MAX_CONNECTIONS`).
    var listenerLimits: ListenerLimits
    /// How often repeated failures of one kind are summarised in the log (`RESOLVERD_LOG_SUMMARY_SECONDS`).
    var logSummaryInterval: Duration
    static let logSummarySeconds = 1...3600
    static let defaultLogSummarySeconds = 10

    init(environment: [String: String]) throws {
        func value(_ name: String) -> String? {
            guard let value = environment[name], !value.isEmpty else { return nil }
            return value
        }
        if let url = value("DATABASE_URL") {
            do {
                database = try PGConnectionConfiguration(url)
            } catch let error as PGError {
                throw SettingsError(setting: "DATABASE_URL", reason: error.message)
            }
        }
        dataDirectory =
            URL(
                fileURLWithPath: value("RESOLVERD_DATA_DIR") ?? ".resolverd-data",
                relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            )
            .standardizedFileURL
        let level = value("RESOLVERD_LOG_LEVEL") ?? "info"
        guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
            throw SettingsError(
                setting: "RESOLVERD_LOG_LEVEL", reason: "'\(level)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        logLevel = parsed
        listen = try ListenAddress(value("RESOLVERD_LISTEN") ?? "127.0.0.1:8080", setting: "RESOLVERD_LISTEN")
        adminListen = try ListenAddress(value("RESOLVERD_ADMIN_LISTEN") ?? "127.0.0.1:9090", setting: "RESOLVERD_ADMIN_LISTEN")
        servicesTokensFile = value("RESOLVERD_SERVICES_TOKENS_FILE")
        keysDirectory = value("RESOLVERD_KEYS_DIR")
        activeKeyID = value("RESOLVERD_ACTIVE_KEY")
        configFile = value("RESOLVERD_CONFIG")
        switch value("RESOLVERD_MIGRATE_ON_START")?.lowercased() {
        case nil, "false", "0", "no": migrateOnStart = false
        case "true", "1", "yes": migrateOnStart = true
        case let other?: throw SettingsError(setting: "RESOLVERD_MIGRATE_ON_START", reason: "'\(other)' is not true or false")
        }
        cacheSize = try Self.integer(value("RESOLVERD_CACHE_SIZE"), in: Self.cacheSizes, setting: "RESOLVERD_CACHE_SIZE")
        poolSize = try Self.integer(value("RESOLVERD_DB_POOL_SIZE"), in: 2...1000, setting: "RESOLVERD_DB_POOL_SIZE") ?? Self.defaultPoolSize
        pipelineDepth =
            try Self.integer(value("RESOLVERD_DB_PIPELINE_DEPTH"), in: 1...64, setting: "RESOLVERD_DB_PIPELINE_DEPTH")
            ?? Self.defaultPipelineDepth
        pgIOThreads =
            try Self.integer(value("RESOLVERD_PG_IO_THREADS"), in: PGIOLoop.threadCounts, setting: "RESOLVERD_PG_IO_THREADS")
            ?? PGIOLoop.defaultThreadCount
        listenerLimits = try Self.listenerLimits(value)
        logSummaryInterval = .seconds(
            try Self.integer(value("RESOLVERD_LOG_SUMMARY_SECONDS"), in: Self.logSummarySeconds, setting: "RESOLVERD_LOG_SUMMARY_SECONDS")
                ?? Self.defaultLogSummarySeconds)
        if database != nil && keysDirectory == nil {
            throw SettingsError(setting: "RESOLVERD_KEYS_DIR", reason: "required with DATABASE_URL: the directory of encryption key files")
        }
    }

    /// A whole number within `range`, or nil when the variable is unset.
    private static func integer(_ text: String?, in range: ClosedRange<Int>, setting: String) throws -> Int? {
        guard let text else { return nil }
        guard let number = Int(text), range.contains(number) else {
            throw SettingsError(setting: setting, reason: "'\(text)' is not a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    /// Both listeners' limits; a variable unset keeps its default.
    private static func listenerLimits(_ value: (String) -> String?) throws -> ListenerLimits {
        var limits = ListenerLimits()
        let idle = "RESOLVERD_IDLE_TIMEOUT_SECONDS", read = "RESOLVERD_REQUEST_READ_TIMEOUT_SECONDS", connections = "RESOLVERD_MAX_CONNECTIONS"
        if let seconds = try integer(value(idle), in: ListenerLimits.idleTimeoutSeconds, setting: idle) {
            limits.idleTimeout = .seconds(seconds)
        }
        if let seconds = try integer(value(read), in: ListenerLimits.requestReadTimeoutSeconds, setting: read) {
            limits.requestReadTimeout = .seconds(seconds)
        }
        if let count = try integer(value(connections), in: ListenerLimits.maxConnectionCounts, setting: connections) {
            limits.maxConnections = count
        }
        return limits
    }

    /// The connectors API's settings: the config file (when there is one) read and checked.
    func connectorsSettings() throws -> ConnectorsSettings {
        try ConnectorsSettings(file: try configFile.map(ConfigFile.load), listen: listen)
    }

    /// True when resolverd runs its own development cluster and generated secrets.
    var isDevelopmentSetup: Bool { database == nil }
}

/// `host:port`, as an operator writes it (`127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:0`).
struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    var host: String
    var port: Int

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    init(_ text: String, setting: String) throws {
        guard let colon = text.lastIndex(of: ":") else {
            throw SettingsError(setting: setting, reason: "'\(text)' is not host:port")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw SettingsError(setting: setting, reason: "'\(text)' has no host") }
        guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw SettingsError(setting: setting, reason: "'\(text)' has no port from 0 to 65535")
        }
        self.host = host
        self.port = port
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A setting that is wrong, said in one line that names it.
struct SettingsError: Error, CustomStringConvertible {
    var setting: String
    var reason: String
    var description: String { "\(setting): \(reason)" }
}

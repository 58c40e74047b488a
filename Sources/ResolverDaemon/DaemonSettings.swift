import Foundation
import Logging
import PGClient

/// The settings of DESIGN.md's configuration table that this build reads, validated once at start.
struct DaemonSettings: Sendable {
    /// nil: the embedded development cluster under `dataDirectory`.
    var database: PGConnectionConfiguration?
    var dataDirectory: URL
    var logLevel: Logger.Level

    init(environment: [String: String]) throws {
        if let url = environment["DATABASE_URL"], !url.isEmpty {
            do {
                database = try PGConnectionConfiguration(url)
            } catch let error as PGError {
                throw SettingsError(setting: "DATABASE_URL", reason: error.message)
            }
        }
        let data = environment["RESOLVERD_DATA_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? ".resolverd-data"
        dataDirectory = URL(fileURLWithPath: data, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            .standardizedFileURL
        let level = environment["RESOLVERD_LOG_LEVEL"].flatMap { $0.isEmpty ? nil : $0 } ?? "info"
        guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
            throw SettingsError(setting: "RESOLVERD_LOG_LEVEL", reason: "'\(level)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        logLevel = parsed
    }
}

/// A setting that is wrong, said in one line that names it.
struct SettingsError: Error, CustomStringConvertible {
    var setting: String
    var reason: String
    var description: String { "\(setting): \(reason)" }
}

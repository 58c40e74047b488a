import ArgumentParser
import Connectors
import Foundation
import Logging
import PGClient

/// `resolverd migrate`: applies the schema, or with `--status` reports it.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending database migrations (safe to run twice, or from several replicas at once).",
        discussion: "Each migration runs in its own transaction under an advisory lock. Exit status 0 when the schema is current."
    )

    @Flag(name: .long, help: "List every migration and whether it is applied, pending, modified or unknown; change nothing.")
    var status = false

    func run() async throws {
        let settings = try DaemonSettings(environment: ProcessInfo.processInfo.environment)
        let logger = DaemonLogging.makeLogger(label: "resolverd.migrate", level: settings.logLevel)
        try await DatabaseHandle.with(settings: settings, logger: logger) { pool in
            let migrator = ConnectorsSchema.migrator()
            if status {
                let report = try await migrator.status(on: pool)
                for line in MigrationReport.lines(report) { print(line) }
                if !report.allSatisfy({ $0.state == .applied }) { throw ExitCode(1) }
                return
            }
            let applied = try await migrator.migrate(on: pool)
            print(applied.isEmpty ? "schema is current; nothing to apply" : "applied: \(applied.map(String.init).joined(separator: ", "))")
        }
    }
}

/// Formats `migrate --status` output: one line a version.
enum MigrationReport {
    static func lines(_ report: [PGMigrationStatus]) -> [String] {
        let formatter = ISO8601DateFormatter()
        return report.map { entry in
            let when = entry.appliedAt.map { " applied_at=" + formatter.string(from: $0) } ?? ""
            let version = String(entry.version)
            let state = entry.state.rawValue
            return String(repeating: "0", count: max(0, 4 - version.count)) + version + "  "
                + state + String(repeating: " ", count: max(1, 10 - state.count)) + entry.name + when
        }
    }
}

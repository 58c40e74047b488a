import Foundation
import Logging

/// The daemon's logging setup: JSON lines for `serve` off a terminal (see JSONLogHandler), plain text for
/// the operator commands.
enum DaemonLogging {
    /// A logger writing to standard error at `level`.
    static func makeLogger(label: String, level: Logger.Level) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = level
        return logger
    }
}

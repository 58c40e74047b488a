import Foundation
import Logging

extension Logging {
    /// A logger writing to standard error at `level`.
    static func makeLogger(label: String, level: Logger.Level) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = level
        return logger
    }
}

/// Namespace for the daemon's logging setup.
enum Logging {}

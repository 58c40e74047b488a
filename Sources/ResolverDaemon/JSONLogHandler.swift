import Connectors
import Foundation
import Logging

/// One JSON object a line on standard output, for journald and log shippers.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var json = JSONText(capacity: 256)
        json.raw("{\"ts\":")
        json.string(Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        json.raw(",\"level\":")
        json.string(event.level.rawValue)
        json.raw(",\"logger\":")
        json.string(label)
        json.raw(",\"msg\":")
        json.string(event.message.description)
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { current, _ in current } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            json.raw(",")
            json.string(key)
            json.raw(":")
            json.string(value.description)
        }
        json.raw("}\n")
        // One write(2) per line: lines from concurrent tasks do not interleave.
        json.bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(STDOUT_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
    }
}

extension DaemonLogging {
    /// Installs the process's log handler: JSON lines when standard output is not a terminal, text otherwise.
    static func bootstrap(level: Logger.Level) {
        let json = isatty(STDOUT_FILENO) == 0
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

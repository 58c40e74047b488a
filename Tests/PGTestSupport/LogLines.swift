public import Logging
import Synchronization

/// Every line a test's logger wrote, with its level and metadata.
public final class LogLines: Sendable {
    public struct Line: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
    }
    private let lines = Mutex<[Line]>([])
    public init() {}
    public var all: [Line] { lines.withLock { $0 } }
    public var aboveDebug: [Line] { all.filter { $0.level > .debug } }
    func append(_ line: Line) { lines.withLock { $0.append(line) } }

    public func logger() -> Logger {
        var logger = Logger(label: "test") { _ in Handler(lines: self) }
        logger.logLevel = .trace
        return logger
    }

    struct Handler: LogHandler {
        let lines: LogLines
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            var flat: [String: String] = [:]
            for (key, value) in event.metadata ?? [:] { flat[key] = "\(value)" }
            lines.append(Line(level: event.level, message: "\(event.message)", metadata: flat))
        }
    }
}

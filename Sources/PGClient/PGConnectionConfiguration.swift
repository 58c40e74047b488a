import CLibPQ
import Foundation

/// Where and how to connect: libpq keywords and values, from a `postgres://` URL or a `key=value` string.
///
/// Every libpq option passes through (sslmode, connect_timeout, options, …). The password is never part of
/// `description` or of any error.
public struct PGConnectionConfiguration: Sendable, CustomStringConvertible {
    /// libpq keywords and values in order; later entries win.
    public private(set) var parameters: [(key: String, value: String)]

    /// Parses a `postgres://` or `postgresql://` URL, or a libpq keyword string (`host=/tmp dbname=x`).
    public init(_ string: String) throws {
        let trimmed = string.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("postgres://") || trimmed.hasPrefix("postgresql://") {
            parameters = try ConnectionURL.parse(trimmed)
        } else if trimmed.contains("://") {
            throw PGError(.invalidConfiguration, message: "connection URL must start with postgres:// or postgresql://")
        } else {
            parameters = try KeywordString.parse(trimmed)
        }
        try Self.validateKeywords(parameters)
    }

    /// Builds a configuration from keywords and values.
    public init(parameters: [(key: String, value: String)]) throws {
        try Self.validateKeywords(parameters)
        self.parameters = parameters
    }

    /// The value of a keyword, if set.
    public subscript(key: String) -> String? {
        parameters.last(where: { $0.key == key })?.value
    }

    /// Sets (or replaces) a keyword.
    public mutating func set(_ key: String, _ value: String) {
        parameters.removeAll { $0.key == key }
        parameters.append((key, value))
    }

    /// Adds a server setting through libpq's `options` (`-c name=value`), as a session default.
    public mutating func addServerSetting(_ name: String, _ value: String) {
        let escaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: " ", with: "\\ ")
        let option = "-c \(name)=\(escaped)"
        if let existing = self["options"], !existing.isEmpty {
            set("options", existing + " " + option)
        } else {
            set("options", option)
        }
    }

    public var description: String {
        parameters.map { $0.key == "password" ? "password=<redacted>" : "\($0.key)=\($0.value)" }.joined(separator: " ")
    }

    private static let knownKeywords: Set<String> = {
        var names = Set<String>()
        guard let defaults = PQconndefaults() else { return names }
        defer { PQconninfoFree(defaults) }
        var option = defaults
        while let keyword = option.pointee.keyword {
            names.insert(String(cString: keyword))
            option += 1
        }
        return names
    }()

    private static func validateKeywords(_ parameters: [(key: String, value: String)]) throws {
        for (key, value) in parameters {
            guard knownKeywords.contains(key) else {
                throw PGError(.invalidConfiguration, message: "unknown connection option '\(key)'")
            }
            if value.utf8.contains(0) {
                throw PGError(.invalidConfiguration, message: "connection option '\(key)' contains a NUL byte")
            }
        }
    }
}

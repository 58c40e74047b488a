import Foundation

@testable import ResolverDaemon

extension ConfigFile {
    /// `json` loaded as the daemon loads its config file, from a temporary file.
    static func load(text json: String) throws -> ConfigFile {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("resolverd-config-\(UUID().uuidString).json").path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try ConfigFile.load(path: path)
    }
}

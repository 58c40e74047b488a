import Foundation

/// Writes a secret file as an operator must: readable by its owner only (resolverd refuses any other mode).
func writeSecretFile(_ text: String, to path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
        throw CocoaError(.fileWriteUnknown)
    }
    // createFile keeps an existing file's mode.
    try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
}

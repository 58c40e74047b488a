import CNIOLinux
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Files that hold secrets the operator names (services tokens, client secrets, the session-JWT secret, a
/// GitHub App's key, the webhook secret). Like key files, one that group or others may read is refused: a
/// secret readable by every account on the host is no secret.
enum SecretFile {
    /// The most a secret file may hold; larger is a mistake (a wrong path), not a secret.
    static let sizeLimit = 1 << 20

    /// The file's text without surrounding whitespace. `secret: false` (a public key) skips the mode check. The
    /// error names the setting and the path, never the content.
    static func read(_ path: String, setting: String, secret: Bool = true, allowEmpty: Bool = false) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SettingsError(setting: setting, reason: "cannot read \(path)") }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw SettingsError(setting: setting, reason: "\(path) is not a regular file")
        }
        if secret && info.st_mode & 0o077 != 0 {
            let mode = String(info.st_mode & 0o777, radix: 8)
            throw SettingsError(setting: setting, reason: "\(path) has mode \(mode), which lets group or others read it; chmod 600")
        }
        guard info.st_size <= sizeLimit, let data = try? handle.readToEnd() ?? Data(), data.count <= sizeLimit else {
            throw SettingsError(setting: setting, reason: "cannot read \(path) (at most \(sizeLimit / 1024) KiB)")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard allowEmpty || !text.isEmpty else { throw SettingsError(setting: setting, reason: "\(path) is empty") }
        return text
    }
}

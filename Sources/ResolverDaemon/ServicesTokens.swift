import ResolverCrypto
import Foundation

/// The internal services allowed to resolve: read from a file of lines `NAME SECRET [PROVIDER,…]`, where
/// SECRET is the token itself or `sha256:<hex>` of it. Only hashes are kept in memory.
struct ServicesTokens: Sendable {
    struct Entry: Sendable {
        var name: String
        var hash: [UInt8]
        /// nil: every provider.
        var providers: Set<String>?

        /// Whether this token may resolve `provider`'s connectors.
        func mayResolve(_ provider: String) -> Bool { providers?.contains(provider) ?? true }
    }

    private(set) var entries: [Entry]

    init(entries: [Entry]) { self.entries = entries }

    /// Parses the file's text; errors name the line, never its secret.
    init(parsing text: String, source: String) throws {
        var entries: [Entry] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 2 || fields.count == 3 else {
                throw SettingsError(setting: source, reason: "line \(index + 1): expected NAME SECRET [PROVIDER,…]")
            }
            let name = String(fields[0])
            let secret = fields[1]
            let hash: [UInt8]
            if secret.hasPrefix("sha256:") {
                guard let decoded = Hex.decode(String(secret.dropFirst(7))), decoded.count == 32 else {
                    throw SettingsError(setting: source, reason: "line \(index + 1) (\(name)): sha256: needs 64 hex digits")
                }
                hash = decoded
            } else {
                guard secret.utf8.count >= 16 else {
                    throw SettingsError(setting: source, reason: "line \(index + 1) (\(name)): the token is shorter than 16 characters")
                }
                hash = SHA256.hash(Array(secret.utf8))
            }
            let providers = fields.count == 3 ? Set(fields[2].split(separator: ",").map(String.init)) : nil
            if entries.contains(where: { $0.name == name }) {
                throw SettingsError(setting: source, reason: "line \(index + 1): the name \(name) is used twice")
            }
            entries.append(Entry(name: name, hash: hash, providers: providers))
        }
        self.entries = entries
    }

    static func load(path: String) throws -> ServicesTokens {
        let text = try SecretFile.read(path, setting: "RESOLVERD_SERVICES_TOKENS_FILE", allowEmpty: true)
        return try ServicesTokens(parsing: text, source: "RESOLVERD_SERVICES_TOKENS_FILE (\(path))")
    }

    /// The entry whose token this is. Every entry is compared, in constant time, whatever matches.
    func authenticate(_ token: some StringProtocol) -> Entry? {
        let presented = SHA256.hash(Array(token.utf8))
        var match: Entry?
        for entry in entries where ConstantTime.equals(entry.hash, presented) && match == nil {
            match = entry
        }
        return match
    }
}

public import Foundation
import Synchronization

/// The keys that encrypt database values: one active for new writes, all of them for reading.
///
/// Values are self-describing (format version, key id, nonce, ciphertext, tag), so rows written under an
/// older key still open after the active key changes. `reload` swaps in a new key set atomically; work already
/// in flight finishes with the set it started with.
public final class Keyring: Sendable {
    private let keySet: Mutex<KeySet>
    private let directory: String?
    /// The active key the operator named (`RESOLVERD_ACTIVE_KEY`): a reload keeps it, so that a replica reloaded
    /// in the middle of a rotation does not start writing under a key the others cannot read yet.
    private let configuredActiveKeyID: String?

    /// Loads every key file in `directory`; the active key is `activeKeyID`, or the highest id in natural order.
    public init(directory: String, activeKeyID: String? = nil) throws {
        self.directory = directory
        configuredActiveKeyID = activeKeyID
        keySet = Mutex(try KeySet(keys: Self.loadDirectory(directory), activeKeyID: activeKeyID))
    }

    /// A keyring over keys already in memory (tests, tools).
    public init(keys: [String: SymmetricKey], activeKeyID: String? = nil) throws {
        directory = nil
        configuredActiveKeyID = activeKeyID
        keySet = Mutex(try KeySet(keys: keys, activeKeyID: activeKeyID))
    }

    /// The id of the key new values are sealed with.
    public var activeKeyID: String { current.active.id }

    /// All loaded key ids in natural order.
    public var keyIDs: [String] { current.entries.map(\.id) }

    /// Seals `plaintext` under the active key, bound to `associatedData` (say table, row id and column).
    @inlinable
    public func seal(_ plaintext: some ContiguousBytes, authenticating associatedData: some ContiguousBytes) throws -> [UInt8] {
        // Inlined so callers specialise the byte access; the work happens in the non-generic `sealBytes`.
        try plaintext.withUnsafeBytes { plaintext in
            try associatedData.withUnsafeBytes { aad in try sealBytes(plaintext, aad: aad) }
        }
    }

    /// Opens a value sealed by any loaded key; throws `CryptoError` (never returns wrong plaintext).
    @inlinable
    public func open(_ value: some ContiguousBytes, authenticating associatedData: some ContiguousBytes) throws -> [UInt8] {
        try value.withUnsafeBytes { value in
            try associatedData.withUnsafeBytes { aad in try openBytes(value, aad: aad) }
        }
    }

    @usableFromInline
    func sealBytes(_ plaintext: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer) throws -> [UInt8] {
        let keys = current
        return try keys.activeHeader.withUnsafeBytes { header in
            try GCMSealing.seal(plaintext, aad: aad, key: keys.activeStorage, nonce: nil, prefix: header)
        }
    }

    @usableFromInline
    func openBytes(_ value: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer) throws -> [UInt8] {
        let idRange = try SealedValue.keyIDRange(in: value)
        let id = UnsafeRawBufferPointer(rebasing: value[idRange])
        guard let key = current.key(for: id) else {
            throw CryptoError(.unknownKeyID, detail: "no loaded key with id \(SealedValue.printableID(id))")
        }
        return try GCMSealing.open(UnsafeRawBufferPointer(rebasing: value[idRange.upperBound...]), aad: aad, key: key)
    }

    /// True when `value` names the active key; false for other keys and for values that do not parse.
    public func isUnderActiveKey(_ value: some ContiguousBytes) -> Bool {
        let active = current.active
        return value.withUnsafeBytes { value in
            guard let range = try? SealedValue.keyIDRange(in: value) else { return false }
            return active.header.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[2...]).elementsEqual(value[range]) }
        }
    }

    /// The key id a stored value names, for diagnostics and re-encryption planning.
    public static func keyID(of value: some ContiguousBytes) throws -> String {
        try value.withUnsafeBytes { value in
            let range = try SealedValue.keyIDRange(in: value)
            let id = UnsafeRawBufferPointer(rebasing: value[range])
            guard KeyID.isValid(Array(id)) else { throw CryptoError(.invalidKeyID, detail: "stored key id has invalid characters") }
            return String(decoding: id, as: UTF8.self)
        }
    }

    /// Re-reads the key directory (on SIGHUP) and swaps the new set in atomically; on error the old set stays.
    /// The active key stays the one named at load (when one was), unless `activeKeyID` names another.
    public func reload(activeKeyID: String? = nil) throws {
        guard let directory else { throw CryptoError(.noKeys, detail: "this keyring was not loaded from a directory") }
        let fresh = try KeySet(keys: Self.loadDirectory(directory), activeKeyID: activeKeyID ?? configuredActiveKeyID)
        keySet.withLock { $0 = fresh }
    }

    /// Replaces the keys with `keys` atomically.
    public func replaceKeys(_ keys: [String: SymmetricKey], activeKeyID: String? = nil) throws {
        let fresh = try KeySet(keys: keys, activeKeyID: activeKeyID)
        keySet.withLock { $0 = fresh }
    }

    /// Writes a new random key (base64, mode 0600) to `path`; the file name becomes its key id.
    public static func generateKeyFile(at path: String) throws {
        let name = (path as NSString).lastPathComponent
        guard KeyID.isValid(name) else {
            throw CryptoError(.invalidKeyID, path: path, detail: "key file name must be 1-64 of [A-Za-z0-9._-], not starting with '.'")
        }
        try KeyFile.create(path: path)
    }

    private var current: KeySet { keySet.withLock { $0 } }

    /// Reads every key file in `directory`; dot-files (editor backups, Kubernetes' `..data`) are skipped.
    static func loadDirectory(_ directory: String) throws -> [String: SymmetricKey] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw CryptoError(.keyDirectoryUnreadable, path: directory, detail: "cannot list the key directory")
        }
        var keys: [String: SymmetricKey] = [:]
        for name in names.sorted() where !name.hasPrefix(".") {
            let path = (directory as NSString).appendingPathComponent(name)
            guard KeyID.isValid(name) else {
                throw CryptoError(.invalidKeyID, path: path, detail: "key file name must be 1-64 of [A-Za-z0-9._-]")
            }
            keys[name] = try KeyFile.load(path: path)
        }
        guard !keys.isEmpty else { throw CryptoError(.noKeys, path: directory, detail: "the key directory holds no key files") }
        return keys
    }
}

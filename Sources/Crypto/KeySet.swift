#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An immutable set of keyring keys with one active; replaced whole on reload.
final class KeySet: Sendable {
    struct Entry: Sendable {
        let id: String
        /// The value header for this key: version, id length and id.
        let header: [UInt8]
        let key: SymmetricKey
    }

    let entries: [Entry]
    let active: Entry
    /// The active entry's parts, held directly so sealing reads them without copying an `Entry`.
    let activeHeader: [UInt8]
    let activeStorage: SymmetricKeyStorage

    init(keys: [String: SymmetricKey], activeKeyID: String?) throws {
        guard !keys.isEmpty else { throw CryptoError(.noKeys, detail: "no keys given") }
        for (id, key) in keys {
            guard KeyID.isValid(id) else {
                throw CryptoError(.invalidKeyID, detail: "key id must be 1-64 of [A-Za-z0-9._-], not starting with '.'")
            }
            guard key.bitCount == 256 else { throw CryptoError(.invalidKeySize, detail: "key \(id) is not 256 bits") }
        }
        let ids = keys.keys.sorted(by: KeyID.naturallyPrecedes)
        entries = ids.map { Entry(id: $0, header: SealedValue.header(keyID: $0), key: keys[$0]!) }
        let activeID = activeKeyID ?? ids.last!
        guard let active = entries.first(where: { $0.id == activeID }) else {
            throw CryptoError(.noKeys, detail: "active key \(activeID) is not among the loaded keys")
        }
        self.active = active
        activeHeader = active.header
        activeStorage = active.key.storage
    }

    /// The key whose id matches `id`; a linear scan beats hashing a String for the handful of keys a keyring holds.
    func key(for id: UnsafeRawBufferPointer) -> SymmetricKeyStorage? {
        for entry in entries where entry.header.count == id.count + 2 {
            let matches = entry.header.withUnsafeBytes { header in
                memcmp(header.baseAddress! + 2, id.baseAddress!, id.count) == 0
            }
            if matches { return entry.key.storage }
        }
        return nil
    }
}

import ResolverCrypto
import Foundation
import Testing

@Suite("Keyring values: format, tampering, rotation, reload")
struct KeyringTests {
    let aad = Array("connector_tokens|ct_123|access_token".utf8)
    let secret = Array("ya29.a0-oauth-access-token".utf8)

    func code(_ body: () throws -> Void) -> CryptoError.Code? {
        do {
            try body()
            return nil
        } catch let error as CryptoError {
            return error.code
        } catch {
            return nil
        }
    }

    @Test func layoutIsSelfDescribing() throws {
        let keyring = try Keyring(keys: ["k1": SymmetricKey(size: .bits256)])
        let value = try keyring.seal(secret, authenticating: aad)
        #expect(value[0] == 1)
        #expect(value[1] == 2)
        #expect(Array(value[2..<4]) == Array("k1".utf8))
        #expect(value.count == 1 + 1 + 2 + 12 + secret.count + 16)
        #expect(try Keyring.keyID(of: value) == "k1")
        #expect(try keyring.open(value, authenticating: aad) == secret)
    }

    @Test func everySingleBitFlipFails() throws {
        let keyring = try Keyring(keys: ["k1": SymmetricKey(size: .bits256), "k3": SymmetricKey(size: .bits256)], activeKeyID: "k1")
        let value = try keyring.seal(secret, authenticating: aad)
        var codes = Set<String>()
        for bit in 0..<(value.count * 8) {
            var tampered = value
            tampered[bit / 8] ^= 1 << UInt8(bit % 8)
            do {
                _ = try keyring.open(tampered, authenticating: aad)
                Issue.record("bit \(bit) flipped still opened")
            } catch let error as CryptoError {
                codes.insert(error.code.description)
            }
        }
        // Header flips name the header problem; nonce, ciphertext and tag flips fail authentication.
        #expect(codes.contains("unsupportedVersion"))
        #expect(codes.contains("authenticationFailure"))
        #expect(codes.contains("unknownKeyID"))
    }

    @Test func wrongAADWrongKeyAndEveryTruncationFail() throws {
        let keyring = try Keyring(keys: ["k1": SymmetricKey(size: .bits256)])
        let value = try keyring.seal(secret, authenticating: aad)
        #expect(code { _ = try keyring.open(value, authenticating: Array("connector_tokens|ct_124|access_token".utf8)) } == .authenticationFailure)
        let other = try Keyring(keys: ["k1": SymmetricKey(size: .bits256)])
        #expect(code { _ = try other.open(value, authenticating: aad) } == .authenticationFailure)
        for length in 0..<value.count {
            let result = code { _ = try keyring.open(Array(value.prefix(length)), authenticating: aad) }
            #expect(result == .truncatedValue || result == .authenticationFailure || result == .invalidKeyID, "length \(length)")
        }
        #expect(code { _ = try keyring.open([UInt8](), authenticating: aad) } == .truncatedValue)
        #expect(code { _ = try keyring.open(Array(value.prefix(20)), authenticating: aad) } == .truncatedValue)
    }

    @Test func unknownKeyAndWrongVersion() throws {
        let old = try Keyring(keys: ["2026-01": SymmetricKey(size: .bits256)])
        let current = try Keyring(keys: ["2026-11": SymmetricKey(size: .bits256)])
        let value = try old.seal(secret, authenticating: aad)
        #expect(code { _ = try current.open(value, authenticating: aad) } == .unknownKeyID)
        var versioned = value
        versioned[0] = 2
        #expect(code { _ = try old.open(versioned, authenticating: aad) } == .unsupportedVersion)
        versioned[0] = 0
        #expect(code { _ = try old.open(versioned, authenticating: aad) } == .unsupportedVersion)
    }

    @Test func oldRowsOpenAfterRotationAndActiveKeyIsReported() throws {
        let k1 = SymmetricKey(size: .bits256)
        let k2 = SymmetricKey(size: .bits256)
        let keyring = try Keyring(keys: ["k1": k1])
        let old = try keyring.seal(secret, authenticating: aad)
        #expect(keyring.isUnderActiveKey(old))

        try keyring.replaceKeys(["k1": k1, "k2": k2])
        #expect(keyring.activeKeyID == "k2")
        #expect(!keyring.isUnderActiveKey(old))
        #expect(try keyring.open(old, authenticating: aad) == secret)
        let fresh = try keyring.seal(secret, authenticating: aad)
        #expect(try Keyring.keyID(of: fresh) == "k2")
        #expect(keyring.isUnderActiveKey(fresh))
        #expect(!keyring.isUnderActiveKey([1, 2] as [UInt8]))

        try keyring.replaceKeys(["k1": k1, "k2": k2], activeKeyID: "k1")
        #expect(keyring.isUnderActiveKey(old))
        #expect(code { try keyring.replaceKeys(["k1": k1], activeKeyID: "k9") } == .noKeys)
        #expect(keyring.activeKeyID == "k1")
    }

    @Test func defaultActiveKeyIsNaturallyHighest() throws {
        func active(_ ids: [String]) throws -> String {
            try Keyring(keys: Dictionary(uniqueKeysWithValues: ids.map { ($0, SymmetricKey(size: .bits256)) })).activeKeyID
        }
        #expect(try active(["k1", "k2", "k10", "k9"]) == "k10")
        #expect(try active(["2026-2", "2026-11", "2025-12"]) == "2026-11")
        #expect(try active(["a", "b"]) == "b")
        #expect(try active(["v1.9", "v1.10"]) == "v1.10")
    }

    @Test func invalidKeyIDsAreRefused() {
        for id in ["", ".hidden", "has space", "slash/id", String(repeating: "a", count: 65), "ünïcode"] {
            #expect(code { _ = try Keyring(keys: [id: SymmetricKey(size: .bits256)]) } == .invalidKeyID, "\(id)")
        }
        #expect(code { _ = try Keyring(keys: [:]) } == .noKeys)
        #expect(code { _ = try Keyring(keys: ["k1": SymmetricKey(size: .init(bitCount: 128))]) } == .invalidKeySize)
    }

    @Test func reloadSwapsKeysAndKeepsOldSetOnError() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try Keyring.generateKeyFile(at: directory.file("k1"))
        let keyring = try Keyring(directory: directory.path)
        let old = try keyring.seal(secret, authenticating: aad)

        try Keyring.generateKeyFile(at: directory.file("k2"))
        try keyring.reload()
        #expect(keyring.activeKeyID == "k2")
        #expect(keyring.keyIDs == ["k1", "k2"])
        #expect(try keyring.open(old, authenticating: aad) == secret)

        try directory.write("k3", [1, 2, 3])
        #expect(code { try keyring.reload() } == .keyFileLength)
        #expect(keyring.activeKeyID == "k2")

        try FileManager.default.removeItem(atPath: directory.file("k3"))
        try keyring.reload(activeKeyID: "k1")
        #expect(keyring.activeKeyID == "k1")
        #expect(code { try Keyring(keys: ["k1": SymmetricKey(size: .bits256)]).reload() } == .noKeys)
    }

    /// SIGHUP mid-rotation: a key file that appears on one replica before the operator makes it active everywhere
    /// must not become this replica's active key on reload.
    @Test func reloadKeepsTheConfiguredActiveKey() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try Keyring.generateKeyFile(at: directory.file("k1"))
        let keyring = try Keyring(directory: directory.path, activeKeyID: "k1")
        try Keyring.generateKeyFile(at: directory.file("k2"))
        try keyring.reload()
        #expect(keyring.keyIDs == ["k1", "k2"])
        #expect(keyring.activeKeyID == "k1")
    }

    @Test func concurrentSealOpenDuringReloads() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try Keyring.generateKeyFile(at: directory.file("k01"))
        let keyring = try Keyring(directory: directory.path)
        let aad = self.aad
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<6 {
                group.addTask {
                    for i in 0..<400 {
                        let message = Array("token \(task)/\(i)".utf8)
                        let value = try keyring.seal(message, authenticating: aad)
                        #expect(try keyring.open(value, authenticating: aad) == message)
                    }
                }
            }
            group.addTask {
                for n in 2..<8 {
                    try Keyring.generateKeyFile(at: directory.file(String(format: "k%02d", n)))
                    try keyring.reload()
                }
            }
            try await group.waitForAll()
        }
        #expect(keyring.activeKeyID == "k07")
    }
}

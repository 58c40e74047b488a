import ResolverCrypto
import Foundation
import Testing

@Suite("Key files")
struct KeyFileTests {
    let key = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 0x41) }

    func error(_ body: () throws -> Void) -> CryptoError? {
        do {
            try body()
            return nil
        } catch {
            return error as? CryptoError
        }
    }

    /// Neither the description nor the debug description shows the key, raw or encoded.
    func expectNoKeyBytes(_ error: CryptoError?) {
        guard let error else { return }
        let text = "\(error) \(String(reflecting: error))"
        #expect(!text.contains(String(decoding: key, as: UTF8.self)))
        #expect(!text.contains(Data(key).base64EncodedString()))
        #expect(!text.contains(Hex.encode(key)))
    }

    @Test func rawAndBase64KeysLoadToTheSameKey() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("raw", key)
        try directory.write("b64", Array(("  " + Data(key).base64EncodedString() + "\n\n").utf8))
        let raw = try Keyring(directory: directory.path, activeKeyID: "raw")
        let encoded = try Keyring(directory: directory.path, activeKeyID: "b64")
        let aad = [UInt8]("x".utf8)
        // Each key opens what the other sealed, so both files hold the same 32 bytes.
        let sealed = try raw.seal([1, 2, 3] as [UInt8], authenticating: aad)
        var swapped = sealed
        swapped.replaceSubrange(1..<5, with: [3] + Array("b64".utf8))
        #expect(try encoded.open(swapped, authenticating: aad) == [1, 2, 3])
    }

    @Test func groupOrOtherReadableFileIsRefusedNamingIt() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("k1", key, mode: 0o644)
        let failure = error { _ = try Keyring(directory: directory.path) }
        #expect(failure?.code == .keyFilePermissions)
        #expect(failure?.description.contains(directory.file("k1")) == true)
        #expect(String(reflecting: failure).contains("644"))
        expectNoKeyBytes(failure)
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: directory.file("k1"))
        #expect(error { _ = try Keyring(directory: directory.path) }?.code == .keyFilePermissions)
        try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: directory.file("k1"))
        #expect(error { _ = try Keyring(directory: directory.path) } == nil)
    }

    @Test("wrong lengths are refused naming the file", arguments: [0, 16, 31, 33, 64])
    func wrongLength(count: Int) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("k1", Array((key + key).prefix(count)))
        let failure = error { _ = try Keyring(directory: directory.path) }
        #expect(failure?.code == .keyFileLength)
        #expect(failure?.path == directory.file("k1"))
        expectNoKeyBytes(failure)
    }

    @Test func base64OfTheWrongLengthOrGarbageIsRefused() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("short", Array(Data(key.prefix(16)).base64EncodedString().utf8))
        #expect(error { _ = try Keyring(directory: directory.path) }?.code == .keyFileLength)
        try FileManager.default.removeItem(atPath: directory.file("short"))
        try directory.write("garbage", Array(String(repeating: "!", count: 44).utf8))
        let failure = error { _ = try Keyring(directory: directory.path) }
        #expect(failure?.code == .keyFileEncoding)
        #expect(failure?.path == directory.file("garbage"))
    }

    @Test func emptyDirectoryMissingDirectoryAndBadNames() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let empty = error { _ = try Keyring(directory: directory.path) }
        #expect(empty?.code == .noKeys)
        #expect(empty?.description.contains(directory.path) == true)
        #expect(error { _ = try Keyring(directory: directory.path + "/missing") }?.code == .keyDirectoryUnreadable)

        try directory.write(".editor-backup", [1])
        #expect(error { _ = try Keyring(directory: directory.path) }?.code == .noKeys)
        try directory.write("bad name", key)
        #expect(error { _ = try Keyring(directory: directory.path) }?.code == .invalidKeyID)
        try FileManager.default.removeItem(atPath: directory.file("bad name"))
        try FileManager.default.createDirectory(atPath: directory.file("sub"), withIntermediateDirectories: false)
        #expect(error { _ = try Keyring(directory: directory.path) }?.code == .keyFileUnreadable)
    }

    @Test func generatedKeyFilesAreBase64WithMode0600AndNeverOverwrite() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try Keyring.generateKeyFile(at: directory.file("2026-11"))
        let attributes = try FileManager.default.attributesOfItem(atPath: directory.file("2026-11"))
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let text = try String(contentsOfFile: directory.file("2026-11"), encoding: .utf8)
        #expect(Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines))?.count == 32)
        #expect(error { try Keyring.generateKeyFile(at: directory.file("2026-11")) }?.code == .keyFileExists)
        #expect(error { try Keyring.generateKeyFile(at: directory.file("bad name")) }?.code == .invalidKeyID)
        #expect(try Keyring(directory: directory.path).activeKeyID == "2026-11")
    }
}

import ResolverCrypto
import Foundation
import Testing

@Suite("AES-256-GCM behaviour")
struct AESGCMTests {
    @Test("round trip from 0 bytes to several MiB", arguments: [0, 1, 15, 16, 17, 256, 4096, 1 << 20, 5 << 20 + 3])
    func roundTrip(size: Int) throws {
        let key = SymmetricKey(size: .bits256)
        let message = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let aad = Array("connector_tokens/ct_1/access_token".utf8)
        let box = try AES.GCM.seal(message, using: key, authenticating: aad)
        #expect(box.combined.count == size + 28)
        #expect(try AES.GCM.open(box, using: key, authenticating: aad) == message)
        #expect(try AES.GCM.open(AES.GCM.SealedBox(combined: box.combined), using: key, authenticating: aad) == message)
    }

    @Test func foundationDataWorksToo() throws {
        let key = SymmetricKey(size: .bits256)
        let box = try AES.GCM.seal(Data("hello".utf8), using: key, authenticating: Data("aad".utf8))
        #expect(try AES.GCM.open(box, using: key, authenticating: Data("aad".utf8)) == Array("hello".utf8))
    }

    @Test func randomNoncesDiffer() throws {
        let key = SymmetricKey(size: .bits256)
        var seen = Set<[UInt8]>()
        for _ in 0..<2000 {
            let box = try AES.GCM.seal([UInt8](), using: key)
            seen.insert(Array(box.combined.prefix(12)))
        }
        #expect(seen.count == 2000)
    }

    @Test func wrongKeyAADAndFlippedBitsFail() throws {
        let key = SymmetricKey(size: .bits256)
        let message = Array("sk_live_secret".utf8)
        let box = try AES.GCM.seal(message, using: key, authenticating: [1, 2, 3] as [UInt8])
        let isAuthFailure: @Sendable (any Error) -> Bool = { ($0 as? CryptoError)?.code == .authenticationFailure }
        #expect(throws: CryptoError.self) { try AES.GCM.open(box, using: SymmetricKey(size: .bits256), authenticating: [1, 2, 3] as [UInt8]) }
        #expect { try AES.GCM.open(box, using: key, authenticating: [1, 2, 4] as [UInt8]) } throws: { isAuthFailure($0) }
        #expect { try AES.GCM.open(box, using: key) } throws: { isAuthFailure($0) }
        for bit in 0..<(box.combined.count * 8) {
            var bytes = box.combined
            bytes[bit / 8] ^= 1 << UInt8(bit % 8)
            let tampered = try AES.GCM.SealedBox(combined: bytes)
            #expect { try AES.GCM.open(tampered, using: key, authenticating: [1, 2, 3] as [UInt8]) } throws: { isAuthFailure($0) }
        }
    }

    @Test func malformedInputIsDistinct() throws {
        #expect { try AES.GCM.SealedBox(combined: [UInt8](repeating: 0, count: 27)) } throws: {
            ($0 as? CryptoError)?.code == .malformedInput
        }
        #expect { try AES.GCM.Nonce(data: [UInt8](repeating: 0, count: 16)) } throws: { ($0 as? CryptoError)?.code == .invalidNonceSize }
        #expect { try AES.GCM.seal([UInt8](), using: SymmetricKey(size: .init(bitCount: 128))) } throws: {
            ($0 as? CryptoError)?.code == .invalidKeySize
        }
    }

    @Test func parallelUseOfOneKey() async throws {
        let key = SymmetricKey(size: .bits256)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for i in 0..<500 {
                        let message = Array("task \(task) message \(i)".utf8)
                        let aad = Array("row \(task)-\(i)".utf8)
                        let box = try AES.GCM.seal(message, using: key, authenticating: aad)
                        #expect(try AES.GCM.open(box, using: key, authenticating: aad) == message)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func errorDescriptionsCarryNoSecrets() throws {
        let key = SymmetricKey(data: [UInt8](repeating: 0x41, count: 32))
        let box = try AES.GCM.seal(Array("PLAINTEXT-MARKER".utf8), using: key)
        do {
            _ = try AES.GCM.open(box, using: SymmetricKey(size: .bits256))
            Issue.record("opened with the wrong key")
        } catch {
            let text = "\(error) \(String(reflecting: error))"
            #expect(!text.contains("PLAINTEXT-MARKER"))
            #expect(!text.contains("AAAA"))
            #expect(!text.contains(Hex.encode(box.combined.prefix(12))))
        }
    }
}

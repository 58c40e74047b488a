import ResolverCrypto
import Testing

/// Published AES-256-GCM vectors with 96-bit IVs: the GCM specification's test cases 13-16 and CAVP gcmEncryptExtIV256.
struct AESGCMVector: Sendable, CustomTestStringConvertible {
    let name: String
    let key: String
    let iv: String
    let plaintext: String
    let aad: String
    let ciphertext: String
    let tag: String

    var testDescription: String { name }
}

let aesGCMVectors: [AESGCMVector] = [
    AESGCMVector(
        name: "GCM spec test case 13 (empty plaintext, no AAD)",
        key: "0000000000000000000000000000000000000000000000000000000000000000", iv: "000000000000000000000000",
        plaintext: "", aad: "", ciphertext: "", tag: "530f8afbc74536b9a963b4f1c4cb738b"),
    AESGCMVector(
        name: "GCM spec test case 14",
        key: "0000000000000000000000000000000000000000000000000000000000000000", iv: "000000000000000000000000",
        plaintext: "00000000000000000000000000000000", aad: "", ciphertext: "cea7403d4d606b6e074ec5d3baf39d18",
        tag: "d0d1c8a799996bf0265b98b5d48ab919"),
    AESGCMVector(
        name: "GCM spec test case 15",
        key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", iv: "cafebabefacedbaddecaf888",
        plaintext: """
            d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
            1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255
            """,
        aad: "",
        ciphertext: """
            522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
            8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad
            """,
        tag: "b094dac5d93471bdec1a502270e3cc6c"),
    AESGCMVector(
        name: "GCM spec test case 16 (with AAD)",
        key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", iv: "cafebabefacedbaddecaf888",
        plaintext: """
            d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
            1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39
            """,
        aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        ciphertext: """
            522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
            8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662
            """,
        tag: "76fc6ece0f4e1768cddf8853bb2d551b"),
    AESGCMVector(
        name: "CAVP gcmEncryptExtIV256 PTlen=0 AADlen=0 count 0",
        key: "b52c505a37d78eda5dd34f20c22540ea1b58963cf8e5bf8ffa85f9f2492505b4", iv: "516c33929df5a3284ff463d7",
        plaintext: "", aad: "", ciphertext: "", tag: "bdc1ac884d332457a1d2664f168c76f0"),
    AESGCMVector(
        name: "CAVP gcmEncryptExtIV256 PTlen=0 AADlen=128 count 0 (empty plaintext with AAD)",
        key: "78dc4e0aaf52d935c3c01eea57428f00ca1fd475f5da86a49c8dd73d68c8e223", iv: "d79cf22d504cc793c3fb6c8a",
        plaintext: "", aad: "b96baa8c1c75a671bfb2d08d06be5f36", ciphertext: "", tag: "3e5d486aa2e30b22e040b85723a06e76"),
    AESGCMVector(
        name: "CAVP gcmEncryptExtIV256 PTlen=128 AADlen=0 count 0",
        key: "31bdadd96698c204aa9ce1448ea94ae1fb4a9a0b3c9d773b51bb1822666b8f22", iv: "0d18e06c7c725ac9e362e1ce",
        plaintext: "2db5168e932556f8089a0622981d017d", aad: "", ciphertext: "fa4362189661d163fcd6a56d8bf0405a",
        tag: "d636ac1bbedd5cc3ee727dc2ab4a9489"),
    AESGCMVector(
        name: "CAVP gcmEncryptExtIV256 PTlen=128 AADlen=128 count 0",
        key: "92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b", iv: "ac93a1a6145299bde902f21a",
        plaintext: "2d71bcfa914e4ac045b2aa60955fad24", aad: "1e0889016f67601c8ebea4943bc23ad6",
        ciphertext: "8995ae2e6df3dbf96fac7b7137bae67f", tag: "eca5aa77d51d4a0a14d9c51e1da474ab"),
    AESGCMVector(
        name: "CAVP gcmEncryptExtIV256 PTlen=128 AADlen=160 count 0",
        key: "83688deb4af8007f9b713b47cfa6c73e35ea7a3aa4ecdb414dded03bf7a0fd3a", iv: "0b459724904e010a46901cf3",
        plaintext: "33d893a2114ce06fc15d55e454cf90c3", aad: "794a14ccd178c8ebfd1379dc704c5e208f9d8424",
        ciphertext: "cc66bee423e3fcd4c0865715e9586696", tag: "0fb291bd3dba94a1dfd8b286cfb97ac5"),
]

@Suite("AES-256-GCM published vectors")
struct AESGCMVectorTests {
    @Test("seal with a fixed nonce gives the published ciphertext and tag", arguments: aesGCMVectors)
    func seal(vector: AESGCMVector) throws {
        let key = SymmetricKey(data: hex(vector.key))
        let nonce = try AES.GCM.Nonce(data: hex(vector.iv))
        let box = try AES.GCM.seal(hex(vector.plaintext), using: key, nonce: nonce, authenticating: hex(vector.aad))
        #expect(Array(box.ciphertext) == hex(vector.ciphertext))
        #expect(Array(box.tag) == hex(vector.tag))
        #expect(box.combined == hex(vector.iv) + hex(vector.ciphertext) + hex(vector.tag))
    }

    @Test("open of the published box gives the plaintext", arguments: aesGCMVectors)
    func open(vector: AESGCMVector) throws {
        let key = SymmetricKey(data: hex(vector.key))
        let box = try AES.GCM.SealedBox(combined: hex(vector.iv) + hex(vector.ciphertext) + hex(vector.tag))
        #expect(try AES.GCM.open(box, using: key, authenticating: hex(vector.aad)) == hex(vector.plaintext))
    }

    @Test("the published box with its tag's last bit flipped is refused", arguments: aesGCMVectors)
    func flippedTag(vector: AESGCMVector) throws {
        let key = SymmetricKey(data: hex(vector.key))
        var combined = hex(vector.iv) + hex(vector.ciphertext) + hex(vector.tag)
        combined[combined.count - 1] ^= 1
        let box = try AES.GCM.SealedBox(combined: combined)
        #expect { try AES.GCM.open(box, using: key, authenticating: hex(vector.aad)) } throws: { error in
            (error as? CryptoError)?.code == .authenticationFailure
        }
    }
}

import Foundation

/// RSA and EC key pairs generated once per test run with `openssl genpkey` (never pasted into the source).
struct KeyMaterial: Sendable {
    let rsaPrivatePKCS8: String
    let rsaPrivatePKCS1: String
    let rsaPublic: String
    let ecPrivate: String
    let ecPublic: String

    /// Writes one of the PEMs into `directory` (a test's own temporary folder) for the openssl CLI; returns its path.
    func file(_ pem: String, named name: String, in directory: TemporaryDirectory) throws -> String {
        try directory.write(name, Array(pem.utf8))
        return directory.file(name)
    }

    static let shared: KeyMaterial = {
        do {
            return try generate()
        } catch {
            fatalError("could not generate test keys with openssl: \(error)")
        }
    }()

    /// Generates into a temporary folder, keeps the PEM text in memory and removes the folder.
    private static func generate() throws -> KeyMaterial {
        let temporary = try TemporaryDirectory()
        defer { temporary.remove() }
        let directory = temporary.path
        try openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", directory + "/rsa.pem"])
        try openssl(["pkey", "-in", directory + "/rsa.pem", "-traditional", "-out", directory + "/rsa1.pem"])
        try openssl(["pkey", "-in", directory + "/rsa.pem", "-pubout", "-out", directory + "/rsa.pub"])
        try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", directory + "/ec.pem"])
        try openssl(["pkey", "-in", directory + "/ec.pem", "-pubout", "-out", directory + "/ec.pub"])
        func read(_ name: String) throws -> String { try String(contentsOfFile: directory + "/" + name, encoding: .utf8) }
        return KeyMaterial(
            rsaPrivatePKCS8: try read("rsa.pem"), rsaPrivatePKCS1: try read("rsa1.pem"), rsaPublic: try read("rsa.pub"),
            ecPrivate: try read("ec.pem"), ecPublic: try read("ec.pub"))
    }
}

/// Converts a DER ECDSA signature (as `openssl dgst -sign` writes it) to JOSE's raw r ‖ s of 32 bytes each.
func rawECDSASignature(fromDER der: [UInt8]) -> [UInt8]? {
    var index = 0
    func readLength() -> Int? {
        guard index < der.count else { return nil }
        let first = der[index]
        index += 1
        if first < 0x80 { return Int(first) }
        guard first == 0x81, index < der.count else { return nil }
        defer { index += 1 }
        return Int(der[index])
    }
    func readInteger() -> [UInt8]? {
        guard index < der.count, der[index] == 0x02 else { return nil }
        index += 1
        guard let length = readLength(), index + length <= der.count else { return nil }
        var value = Array(der[index..<(index + length)])
        index += length
        while value.count > 32, value.first == 0 { value.removeFirst() }
        guard value.count <= 32 else { return nil }
        return [UInt8](repeating: 0, count: 32 - value.count) + value
    }
    guard der.first == 0x30 else { return nil }
    index = 1
    guard readLength() != nil, let r = readInteger(), let s = readInteger() else { return nil }
    return r + s
}

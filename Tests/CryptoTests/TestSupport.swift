import Foundation
import Testing

/// A fresh private directory under the system temp dir, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "resolverd-crypto-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ bytes: [UInt8], mode: Int = 0o600) throws {
        let target = file(name)
        #expect(FileManager.default.createFile(atPath: target, contents: Data(bytes)))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: target)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs the `openssl` command line tool; throws with its stderr when it exits non-zero.
@discardableResult
func openssl(_ arguments: [String], stdin: [UInt8]? = nil) throws -> [UInt8] {
    // Input and output go through files of a private folder, not pipes: a pipe's write end inherited by some
    // other child started meanwhile (a test's PostgreSQL) would keep its reader waiting for an end of file.
    let folder = try TemporaryDirectory()
    defer { folder.remove() }
    try folder.write("stdin", stdin ?? [])
    _ = FileManager.default.createFile(atPath: folder.file("stdout"), contents: nil)
    _ = FileManager.default.createFile(atPath: folder.file("stderr"), contents: nil)
    let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: folder.file("stdin")))
    let output = try FileHandle(forWritingTo: URL(fileURLWithPath: folder.file("stdout")))
    let errors = try FileHandle(forWritingTo: URL(fileURLWithPath: folder.file("stderr")))
    defer {
        try? input.close()
        try? output.close()
        try? errors.close()
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["openssl"] + arguments
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    process.waitUntilExit()
    let out = try Data(contentsOf: URL(fileURLWithPath: folder.file("stdout")))
    guard process.terminationStatus == 0 else {
        let err = (try? Data(contentsOf: URL(fileURLWithPath: folder.file("stderr")))) ?? Data()
        throw OpenSSLCLIError(arguments: arguments, status: process.terminationStatus, stderr: String(decoding: err, as: UTF8.self))
    }
    return [UInt8](out)
}

struct OpenSSLCLIError: Error, CustomStringConvertible {
    let arguments: [String]
    let status: Int32
    let stderr: String
    var description: String { "openssl \(arguments.joined(separator: " ")) exited \(status): \(stderr)" }
}

/// Bytes from a hex literal in a test vector.
func hex(_ text: String) -> [UInt8] {
    let clean = text.filter { !$0.isWhitespace }
    var out: [UInt8] = []
    var index = clean.startIndex
    while index < clean.endIndex {
        let next = clean.index(index, offsetBy: 2)
        out.append(UInt8(clean[index..<next], radix: 16)!)
        index = next
    }
    return out
}

extension Array where Element == UInt8 {
    var hexString: String { map { String(format: "%02x", $0) }.joined() }
}

import Foundation
import Glibc
import PGClient
import PGLocalCluster
import PGTestSupport
import ProviderFakes
import ResolverCrypto
import Testing

/// A `resolverd serve` process, its output in a log file. Tests kill it with SIGKILL or stop it with SIGTERM, and wait without blocking a thread.
final class DaemonProcess: @unchecked Sendable {
    /// The binary scripts/test builds and names in `RESOLVERD_TEST_BINARY`.
    static var binary: String? {
        guard let path = ProcessInfo.processInfo.environment["RESOLVERD_TEST_BINARY"], FileManager.default.isExecutableFile(atPath: path) else {
            return nil
        }
        return path
    }

    static var isAvailable: Bool { binary != nil && TestDatabase.isConfigured }

    let pid: pid_t
    let logPath: String
    private var exitStatus: Int32?

    private init(pid: pid_t, logPath: String) {
        self.pid = pid
        self.logPath = logPath
    }

    /// `resolverd serve`, or another command given in `arguments`.
    static func start(_ arguments: [String] = ["serve"], environment: [String: String], logPath: String) throws -> DaemonProcess {
        guard let binary else { throw HarnessError("RESOLVERD_TEST_BINARY is not set") }
        var merged = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("RESOLVERD_") && $0.key != "DATABASE_URL" && $0.key != "NOTIFY_SOCKET"
        }
        merged.merge(environment) { _, new in new }
        let pid = try ChildProcess.spawn(binary, arguments, environment: merged, outputPath: logPath, append: true)
        return DaemonProcess(pid: pid, logPath: logPath)
    }

    /// Runs a `resolverd` command to its end: its exit status.
    static func run(_ arguments: [String], environment: [String: String], logPath: String, timeout: Duration = .seconds(30)) async throws -> Int32 {
        let process = try start(arguments, environment: environment, logPath: logPath)
        guard let status = try await process.wait(timeout: timeout) else {
            throw HarnessError("resolverd \(arguments.first ?? "") did not end:\n\(process.log.suffix(1500))")
        }
        return status
    }

    /// The address a listener bound (`API` or `admin`), from the line the daemon logs once it listens.
    func listenAddress(_ listener: String, timeout: Duration = .seconds(30)) async throws -> String {
        let marker = "\"\(listener) listening\""
        try await waitForLog(marker, timeout: timeout)
        for line in log.split(separator: "\n") where line.contains(marker) {
            if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let address = object["address"] as? String {
                return address
            }
        }
        throw HarnessError("no address in resolverd's '\(listener) listening' line")
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func signal(_ number: Int32) { if exitStatus == nil { kill(pid, number) } }

    /// The exit status once the process has ended (reaped without blocking), else nil.
    func poll() -> Int32? {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        exitStatus = ChildProcess.exitCode(waitStatus: status)
        return exitStatus
    }

    /// Waits for the end of the process, polling; nil when it is still running after `timeout`.
    func wait(timeout: Duration) async throws -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = poll() { return status }
            try await Task.sleep(for: .milliseconds(20))
        }
        return poll()
    }

    /// Waits until the log holds `text`.
    func waitForLog(_ text: String, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if log.contains(text) { return }
            if poll() != nil { throw HarnessError("resolverd exited before logging '\(text)':\n\(log.suffix(2000))") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("resolverd did not log '\(text)' in time:\n\(log.suffix(2000))")
    }

    deinit {
        if exitStatus == nil {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }
}

/// A database of its own for daemon processes, with a key directory, dropped afterwards.
struct ProcessFixture {
    let databaseURL: String
    let directory: URL
    let keyring: Keyring

    static func with(_ body: (ProcessFixture) async throws -> Void) async throws {
        let base = try TestDatabase.configuration()
        let name = "p_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        let admin = try await PGConnection.connect(base)
        defer { admin.close() }
        try await admin.execute(unsafeSQL: "CREATE DATABASE \(name)")
        let url = ProcessInfo.processInfo.environment[TestDatabase.urlVariable] ?? ""
        guard let slash = url.lastIndex(of: "/") else { throw HarnessError("unexpected test database URL") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("resolverd-proc-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("keys"), withIntermediateDirectories: true)
        let keyFile = directory.appendingPathComponent("keys/proc-1").path
        try Data(try SecureRandom.bytes(count: 32)).write(to: URL(fileURLWithPath: keyFile))
        chmod(keyFile, 0o600)
        let fixture = ProcessFixture(
            databaseURL: String(url[..<slash]) + "/" + name, directory: directory,
            keyring: try Keyring(directory: directory.appendingPathComponent("keys").path, activeKeyID: nil))
        defer {
            fixture.scanLogs()
            try? FileManager.default.removeItem(at: directory)
        }
        do {
            try await body(fixture)
        } catch {
            try? await admin.execute(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            throw error
        }
        try await admin.execute(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        fixture.scanLogs()
        TestSecrets.shared.expectNoLeaks()
    }

    /// Hands every daemon log of this fixture to ``TestSecrets`` (once per file: it is emptied after).
    func scanLogs() {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for file in files where file.hasSuffix(".log") {
            let path = directory.appendingPathComponent(file).path
            guard let text = try? String(contentsOfFile: path, encoding: .utf8), !text.isEmpty else { continue }
            TestSecrets.shared.logged(text, source: "resolverd process \(file)")
            try? Data().write(to: URL(fileURLWithPath: path))
        }
    }

    /// The environment of a daemon on this database, with `config` as its config file.
    func environment(config: String) throws -> [String: String] {
        let path = directory.appendingPathComponent("resolverd.json").path
        try Data(config.utf8).write(to: URL(fileURLWithPath: path))
        return [
            "DATABASE_URL": databaseURL, "RESOLVERD_KEYS_DIR": directory.appendingPathComponent("keys").path, "RESOLVERD_CONFIG": path,
            "RESOLVERD_MIGRATE_ON_START": "true", "RESOLVERD_LISTEN": "127.0.0.1:0", "RESOLVERD_ADMIN_LISTEN": "127.0.0.1:0",
            "RESOLVERD_LOG_LEVEL": "info",
        ]
    }

    func logPath(_ name: String) -> String { directory.appendingPathComponent("\(name).log").path }
}

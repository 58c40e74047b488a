public import Foundation
public import PGClient
import NIOPosix

/// A private PostgreSQL cluster run from the machine's `initdb` and `pg_ctl`: the daemon's development
/// default and the tests' throwaway servers. It listens only on a Unix socket in a directory of its own.
///
/// PostgreSQL refuses to run as root, so when this process is root the cluster runs as `systemUser`
/// (created if missing) and owns its data directory.
public struct PGLocalCluster: Sendable {
    public struct Options: Sendable {
        /// Where the cluster's files live (created on first start).
        public var dataDirectory: URL
        /// Where the server puts its socket; defaults to `dataDirectory/socket` if that path is short enough.
        public var socketDirectory: URL?
        /// Names the socket file (`.s.PGSQL.<port>`); no TCP port is opened.
        public var port: Int = 5432
        /// The database created at first start, and the superuser role's name.
        public var database: String = "resolverd"
        public var role: String = "resolverd"
        /// The unprivileged account the server runs as when this process is root.
        public var systemUser: String = "resolverd-pg"
        /// Extra `postgresql.conf` settings.
        public var settings: [String: String] = [:]

        public init(dataDirectory: URL) { self.dataDirectory = dataDirectory }
    }

    public let options: Options
    public let binDirectory: URL
    public let socketDirectory: URL
    private let runAsUser: String?

    public init(options: Options) throws {
        self.options = options
        self.binDirectory = try Self.locateBinaries()
        let defaultSocket = options.dataDirectory.appendingPathComponent("socket")
        let socket = options.socketDirectory ?? defaultSocket
        // A Unix socket path is limited to 107 bytes.
        if socket.path.utf8.count + 20 > 107 {
            throw PGLocalClusterError("the socket directory \(socket.path) is too long for a Unix socket; set a shorter one")
        }
        self.socketDirectory = socket
        self.runAsUser = geteuid() == 0 ? options.systemUser : nil
    }

    /// libpq settings that reach this cluster's database.
    public var connectionConfiguration: PGConnectionConfiguration {
        // Keys are fixed and valid, so this cannot fail.
        try! PGConnectionConfiguration(parameters: [
            ("host", socketDirectory.path), ("port", "\(options.port)"), ("user", options.role), ("dbname", options.database),
        ])
    }

    /// `postgres://` URL of this cluster's database, for tools such as psql and pgbench.
    public var url: String {
        let host = socketDirectory.path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? socketDirectory.path
        return "postgres://\(options.role)@\(host):\(options.port)/\(options.database)"
    }

    private var dataPath: String { options.dataDirectory.appendingPathComponent("pgdata").path }
    private var logPath: String { options.dataDirectory.appendingPathComponent("postgresql.log").path }

    /// True once `initdb` has run here.
    public var isInitialized: Bool {
        FileManager.default.fileExists(atPath: dataPath + "/PG_VERSION")
    }

    /// Creates the cluster if needed and starts it; returns when it accepts connections.
    public func start() async throws {
        try await offPool { try self.startBlocking() }
    }

    private func startBlocking() throws {
        let fresh = !isInitialized
        if fresh { try initialize() }
        try prepareDirectory(socketDirectory, mode: 0o700)
        try run("pg_ctl", ["-D", dataPath, "-l", logPath, "-w", "-t", "60", "-s", "start"])
        if fresh {
            try run("createdb", ["-h", socketDirectory.path, "-p", "\(options.port)", "-U", options.role, options.database])
        }
    }

    /// Stops the server (fast shutdown: open connections are ended). Stopping a stopped cluster is fine.
    public func stop() async throws {
        try await offPool { try self.stopBlocking() }
    }

    private func stopBlocking() throws {
        guard FileManager.default.fileExists(atPath: dataPath + "/postmaster.pid") else { return }
        try run("pg_ctl", ["-D", dataPath, "-w", "-t", "60", "-s", "-m", "fast", "stop"])
    }

    /// Stops and starts the server, ending every connection.
    public func restart() async throws {
        try await offPool { try self.restartBlocking() }
    }

    private func restartBlocking() throws {
        try run("pg_ctl", ["-D", dataPath, "-l", logPath, "-w", "-t", "60", "-s", "-m", "fast", "restart"])
    }

    /// Threads for child processes (initdb takes seconds), apart from the pool that opens connections.
    private static let processThreads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        return pool
    }()

    /// Runs blocking work (child processes) on threads of its own, never on Swift's cooperative threads.
    private func offPool(_ work: @escaping @Sendable () throws -> Void) async throws {
        try await Self.processThreads.runIfActive(work)
    }

    /// True when this cluster's server is running (`pg_ctl status`).
    public func isRunning() async throws -> Bool {
        guard isInitialized else { return false }
        let path = binDirectory.appendingPathComponent("pg_ctl").path
        let arguments = ["status", "-D", dataPath]
        let command = runAsUser.map { ("/sbin/runuser", ["-u", $0, "--", path] + arguments) } ?? (path, arguments)
        let directory = options.dataDirectory.path
        let status = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int32, any Error>) in
            Self.processThreads.submit { _ in
                continuation.resume(with: Result { try ChildProcess.run(command.0, command.1, directory: directory).status })
            }
        }
        return status == 0
    }

    /// Removes everything under the data directory. The cluster must be stopped.
    public func destroy() throws {
        try FileManager.default.removeItem(at: options.dataDirectory)
    }

    private func initialize() throws {
        try prepareDirectory(options.dataDirectory, mode: 0o700)
        try run("initdb", ["-D", dataPath, "-U", options.role, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        var settings = [
            "listen_addresses": "''",
            "port": "\(options.port)",
            "unix_socket_directories": "'\(socketDirectory.path)'",
            "fsync": "on",
            "max_connections": "200",
        ]
        settings.merge(options.settings) { _, new in new }
        let lines = settings.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: "\n")
        let config = URL(fileURLWithPath: dataPath).appendingPathComponent("postgresql.conf")
        let handle = try FileHandle(forWritingTo: config)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(("\n# resolverd local cluster\n" + lines + "\n").utf8))
    }

    /// Creates `directory` for the server's account with `mode`.
    private func prepareDirectory(_ directory: URL, mode: Int) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: directory.path)
        if let runAsUser {
            try Self.ensureSystemUser(runAsUser)
            try Self.execute("/bin/chown", ["-R", runAsUser, directory.path])
        }
    }

    /// Runs a PostgreSQL program from the bin directory, as the unprivileged account when root.
    private func run(_ program: String, _ arguments: [String]) throws {
        let path = binDirectory.appendingPathComponent(program).path
        if let runAsUser {
            try Self.execute("/sbin/runuser", ["-u", runAsUser, "--", path] + arguments, directory: options.dataDirectory)
        } else {
            try Self.execute(path, arguments, directory: options.dataDirectory)
        }
    }

    private static func execute(_ path: String, _ arguments: [String], directory: URL? = nil) throws {
        let outcome = try ChildProcess.run(path, arguments, directory: directory?.path)
        guard outcome.status == 0 else {
            let name = URL(fileURLWithPath: path.hasSuffix("runuser") && arguments.count > 3 ? arguments[3] : path).lastPathComponent
            let output = outcome.output.trimmingCharacters(in: .whitespacesAndNewlines)
            throw PGLocalClusterError("\(name) failed (exit \(outcome.status)): \(output)")
        }
    }

    private static func ensureSystemUser(_ name: String) throws {
        if getpwnam(name) != nil { return }
        try execute("/usr/sbin/useradd", ["--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name])
    }

    /// The directory holding `initdb` and `pg_ctl`: `pg_config --bindir`, else the newest
    /// `/usr/lib/postgresql/N/bin`, else `PATH`.
    public static func locateBinaries() throws -> URL {
        let fileManager = FileManager.default
        if let environment = ProcessInfo.processInfo.environment["RESOLVERD_PG_BINDIR"], !environment.isEmpty {
            return URL(fileURLWithPath: environment)
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? fileManager.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init)
            .sorted(by: >)
        for version in versions where fileManager.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return URL(fileURLWithPath: "\(root)/\(version)/bin")
        }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        where fileManager.isExecutableFile(atPath: "\(directory)/initdb") && fileManager.isExecutableFile(atPath: "\(directory)/pg_ctl") {
            return URL(fileURLWithPath: String(directory))
        }
        throw PGLocalClusterError("PostgreSQL's initdb and pg_ctl were not found; install the postgresql package or set DATABASE_URL")
    }
}

/// Why a local cluster could not be set up or started.
public struct PGLocalClusterError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

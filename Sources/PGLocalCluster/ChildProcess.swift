import CSpawn
import Foundation
import Glibc

/// Starts programs with `posix_spawn` (Foundation's `Process` hangs in some containers) and waits for them with
/// `waitpid`. Input comes from /dev/null; standard output and error go together to a file; no other descriptor
/// of this process reaches the child.
///
/// `run` blocks: callers run it off Swift's cooperative pool (see `PGLocalCluster`).
public enum ChildProcess {
    public struct Outcome: Sendable {
        public var status: Int32
        public var output: String
    }

    /// Starts `path arguments…` in `directory` (through env(1), so the child's own account needs only to enter it),
    /// its output written to `outputPath` (appended to when `append`), with `environment` or, when nil, ours.
    public static func spawn(
        _ path: String, _ arguments: [String], directory: String? = nil, environment: [String: String]? = nil,
        outputPath: String, append: Bool = false
    ) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of ours: a socket the child inherited (NIO does not open sockets close-on-exec) would stay
        // open as long as the child runs, so closing it here would not end the connection.
        posix_spawn_file_actions_addclosefrom_np(&actions, 3)
        let (program, programArguments) = directory.map { ("/usr/bin/env", ["--chdir=\($0)", path] + arguments) } ?? (path, arguments)
        let argv = ([program] + programArguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { envp?.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = envp.map { posix_spawn(&pid, program, &actions, nil, argv, $0) } ?? posix_spawn(&pid, program, &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw PGLocalClusterError("could not start \(path): \(String(cString: strerror(spawned)))")
        }
        return pid
    }

    /// The exit code of a child `waitpid` reported, or 128 + the signal that ended it (WIFEXITED and WEXITSTATUS,
    /// spelled out: the macros do not reach Swift).
    public static func exitCode(waitStatus status: Int32) -> Int32 {
        status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// Runs `path arguments…` to completion and returns its exit code and output.
    public static func run(_ path: String, _ arguments: [String], directory: String? = nil) throws -> Outcome {
        let outputPath = NSTemporaryDirectory() + "resolverd-child-\(UUID().uuidString)"
        defer { unlink(outputPath) }
        let pid = try spawn(path, arguments, directory: directory, outputPath: outputPath)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw PGLocalClusterError("waiting for \(path) failed: \(String(cString: strerror(errno)))") }
        }
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return Outcome(status: exitCode(waitStatus: status), output: output)
    }
}

import Foundation
import Glibc

/// Runs a program to completion with `posix_spawn` and `waitpid`, its output captured in a temporary file.
///
/// Blocking: callers run it off Swift's cooperative pool (see `PGLocalCluster`).
enum ChildProcess {
    struct Outcome {
        var status: Int32
        var output: String
    }

    static func run(_ path: String, _ arguments: [String], directory: String? = nil) throws -> Outcome {
        let outputPath = NSTemporaryDirectory() + "resolverd-child-\(UUID().uuidString)"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // The child starts in `directory` (the cluster's own, which its account can enter) through env(1).
        let (program, programArguments) = directory.map { ("/usr/bin/env", ["--chdir=\($0)", path] + arguments) } ?? (path, arguments)
        let argv = ([program] + programArguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw PGLocalClusterError("could not start \(path): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw PGLocalClusterError("waiting for \(path) failed: \(String(cString: strerror(errno)))") }
        }
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        // WIFEXITED / WEXITSTATUS, spelled out: the macros do not reach Swift.
        let exited = status & 0x7f == 0
        return Outcome(status: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), output: output)
    }
}

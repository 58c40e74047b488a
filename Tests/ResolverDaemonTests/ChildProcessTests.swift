import Foundation
import Glibc
import PGLocalCluster
import Testing

/// Programs resolverd starts (initdb, pg_ctl, the development cluster's server; in tests, resolverd itself)
/// get standard input, output and error, and none of resolverd's other descriptors.
@Suite struct ChildProcessTests {
    @Test func aChildInheritsNoDescriptorButTheStandardThree() throws {
        // Opened without close-on-exec, as NIO opens the sockets it accepts.
        let file = open("/dev/null", O_RDONLY)
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer {
            close(file)
            close(socket)
        }
        try #require(file >= 3 && socket >= 3)
        let outcome = try ChildProcess.run("/bin/sh", ["-c", "ls /proc/$$/fd"])
        #expect(outcome.status == 0)
        let descriptors = Set(outcome.output.split(whereSeparator: \.isWhitespace).map(String.init))
        #expect(descriptors.isSuperset(of: ["0", "1", "2"]))
        #expect(!descriptors.contains(String(file)) && !descriptors.contains(String(socket)), "\(descriptors.sorted())")
    }
}

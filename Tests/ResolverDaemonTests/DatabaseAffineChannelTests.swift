import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import PGClient
import Synchronization
import Testing
@testable import ResolverDaemon

/// API connections' tasks run on the database I/O threads, taking them in turn.
@Suite struct DatabaseAffineChannelTests {
    /// Records the thread each connection's task runs on.
    final class ThreadRecorder: ServerChildChannel {
        struct Value: ServerChildChannelValue {
            var channel: any Channel { fatalError("the wrapper passes the value through without reading it") }
        }

        let names = Mutex<[String]>([])

        func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
            channel.eventLoop.makeSucceededFuture(Value())
        }

        func handle(value: Value, logger: Logger) async {
            let name = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?"
            names.withLock { $0.append(name.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
    }

    @Test func connectionsRunOnTheDatabaseThreadsInTurn() async {
        let recorder = ThreadRecorder()
        let loops = PGIOLoop.all
        let channel = DatabaseAffineChannel(recorder, executors: ExecutorRotation(loops))
        for _ in 0..<(2 * loops.count) { await channel.handle(value: .init(), logger: Logger(label: "test")) }
        let expected = (0..<(2 * loops.count)).map { "pgio\($0 % loops.count)" }
        #expect(recorder.names.withLock { $0 } == expected)
    }

    @Test func withoutExecutorsConnectionsRunWhereTheyStart() async {
        let recorder = ThreadRecorder()
        await DatabaseAffineChannel(recorder, executors: ExecutorRotation([])).handle(value: .init(), logger: Logger(label: "test"))
        #expect(recorder.names.withLock { $0.count == 1 && !$0[0].hasPrefix("pgio") })
    }
}

import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing

@testable import ResolverDaemon

/// The daemon's listeners handle each connection on its channel's event loop (no thread hop between the
/// socket and the handler), and so do the tasks a handler starts.
@Suite struct EventLoopAffinityTests {
    @Test func handlersAndTheirChildTasksRunOnTheConnectionsEventLoop() async throws {
        let router = Router()
        router.get("/where") { _, _ -> String in
            let handler = MultiThreadedEventLoopGroup.currentEventLoop != nil
            let children = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<4 { group.addTask { MultiThreadedEventLoopGroup.currentEventLoop != nil } }
                return await group.reduce(true) { $0 && $1 }
            }
            return "handler=\(handler) children=\(children)"
        }
        let app = Application(router: router, server: .http1OnEventLoops, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            for _ in 0..<3 {
                let response = try await client.execute(uri: "/where", method: .get)
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "handler=true children=true")
            }
        }
    }

    /// The same route on a default server runs off the event loops: the test above would notice a wrapper
    /// that does nothing.
    @Test func aDefaultServerRunsHandlersElsewhere() async throws {
        let router = Router()
        router.get("/where") { _, _ -> String in "handler=\(MultiThreadedEventLoopGroup.currentEventLoop != nil)" }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let response = try await client.execute(uri: "/where", method: .get)
            #expect(String(buffer: response.body) == "handler=false")
        }
    }
}

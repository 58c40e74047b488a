import Hummingbird
import NIOCore

/// The request context of the fake servers: Hummingbird's basics plus the connection, so a fault can drop it.
struct FakeRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

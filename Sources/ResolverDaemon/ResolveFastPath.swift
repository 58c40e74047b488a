import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// Answers plain `POST /internal/v1/resolve` requests itself, before they reach the router: a cache hit on the
/// connection's event loop (no task, no hop to another thread and back, no response stream), a miss through
/// one task that reads the database and hands the answer back to the loop. Everything else (another route, a
/// body that is not the plain request, a missing or refused services token, a request asking to close the
/// connection) goes on to the router untouched, which answers it as it would without this handler; so does a
/// request that arrives while the router still owes an answer on the connection.
///
/// Answers leave in the order of the requests: while a miss is being read, what arrives on the connection
/// waits here (and no more is read from the socket) until its answer is written.
///
/// Sits in the API listener's pipeline right after NIO's HTTP/1 codec (`HTTPServerRequestPart` in,
/// `HTTPServerResponsePart` out), before the conversion to Swift HTTP Types and Hummingbird's connection handling:
/// a request it answers is never converted, nor is its answer (the conversion of a resolve's head alone cost some
/// 3 µs). One per connection, touched only on its event loop.
final class ResolveFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// A single resolve is some 60 bytes; a body past this goes to the router whole, as it arrived.
    static let bodyLimit = 4096
    static let path = "/internal/v1/resolve"

    private enum State {
        /// Between requests.
        case idle
        /// Holding back a resolve request until its end, to answer it here if it can.
        case holding(head: HTTPRequestHead, body: ByteBuffer?, started: ContinuousClock.Instant)
        /// Passing the parts of the current request on to the router.
        case passing
        /// Reading a resolve's connector from the database; the answer is written when the read ends.
        case reading
    }

    private let routes: ResolveRoutes
    private let serverName: String
    private let logger: Logger
    /// Where a miss's task runs: a database I/O thread, where the database's answer arrives.
    private let executor: (any TaskExecutor)?
    private var state = State.idle
    /// Requests passed on whose answer the router has not finished writing.
    private var owed = 0
    private var answeredSinceFlush = false
    private var date = HTTPDate()
    /// Parts that arrived while reading, in order; handled once the answer is written.
    private var waiting = CircularBuffer<HTTPServerRequestPart>()
    /// The channel asked to read more while reading; asked again once the answer is written.
    private var readDeferred = false
    /// Graceful shutdown began while reading; passed on once the answer is written.
    private var quiesceDeferred = false

    init(routes: ResolveRoutes, serverName: String, logger: Logger, executor: (any TaskExecutor)?) {
        self.routes = routes
        self.serverName = serverName
        self.logger = logger
        self.executor = executor
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .reading = state {
            waiting.append(part)
        } else {
            handle(part, context: context)
        }
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch (part, state) {
        case (.head(let head), .idle):
            // Only while the client reads its answers: otherwise the router's answers, which wait for the
            // socket, hold the connection back.
            if owed == 0, context.channel.isWritable, Self.mayAnswer(head) {
                state = .holding(head: head, body: nil, started: .now)
            } else {
                pass(head, context: context)
            }
        case (.head(let head), _):
            // A new head before the last request ended is the codec's business; let the router see it as sent.
            release(context: context)
            pass(head, context: context)
        case (.body(let part), .holding(let head, var body, let started)):
            state = .idle  // drop the held copy's reference while appending, so the buffer is not copied
            if body == nil {
                body = part
            } else {
                body!.writeImmutableBuffer(part)
            }
            state = .holding(head: head, body: body, started: started)
            if body!.readableBytes > Self.bodyLimit { release(context: context) }
        case (.body, _):
            context.fireChannelRead(wrapInboundOut(part))
        case (.end(let trailers), .holding(let head, let body, let started)):
            let answer =
                trailers == nil
                ? routes.fastAnswer(servicesToken: Self.servicesToken(in: head.headers), body: body ?? ByteBuffer(), started: started)
                : .pass
            switch answer {
            case .answered(let body):
                state = .idle
                write(.ok, body, context: context)
            case .resolve(let request, let entry):
                read(request, for: entry, started: started, context: context)
            case .pass:
                release(context: context)
                state = .idle
                context.fireChannelRead(wrapInboundOut(part))
            }
        case (.end, _):
            state = .idle
            context.fireChannelRead(wrapInboundOut(part))
        }
    }

    /// Resolves a miss in a task and writes its answer (a 200 or the route's error) back on the loop.
    private func read(_ request: ResolveRequest, for entry: ServicesTokens.Entry, started: ContinuousClock.Instant, context: ChannelHandlerContext) {
        state = .reading
        routes.runtime.metrics.recordFastPathRead()
        let reads = routes.runtime.fastPathReads
        reads.begin()
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        var logger = logger
        logger[metadataKey: "hb.request.id"] = .stringConvertible(RequestID())  // as Hummingbird tags a request's logger
        let routes = routes
        Task(executorPreference: executor) {
            let result = await routes.answer(request, for: entry, started: started, logger: logger, cacheMissed: true)
            reads.end()
            bound.eventLoop.execute { bound.value.handler.finishReading(result, context: bound.value.context) }
        }
    }

    /// Writes a read's answer, then goes on with what waited meanwhile.
    private func finishReading(_ result: Result<ByteBuffer, APIError>, context: ChannelHandlerContext) {
        guard case .reading = state else { return }
        state = .idle
        switch result {
        case .success(let body): write(.ok, body, context: context)
        case .failure(let error):
            let status = HTTPResponseStatus(statusCode: error.status.code, reasonPhrase: error.status.reasonPhrase)
            write(status, ByteBuffer(bytes: error.body), context: context)
        }
        let replayed = !waiting.isEmpty
        while let part = waiting.popFirst() {
            handle(part, context: context)
            if case .reading = state { break }
        }
        // Out before anything can close the connection; the router gets what was passed on to it.
        if replayed {
            channelReadComplete(context: context)
        } else {
            answeredSinceFlush = false
            context.flush()
        }
        if case .reading = state { return }
        if quiesceDeferred {
            quiesceDeferred = false
            release(context: context)
            context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        if readDeferred {
            readDeferred = false
            context.read()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if answeredSinceFlush {
            answeredSinceFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A read under way finds nothing to write to; what waited for it goes nowhere.
        if case .reading = state { state = .idle }
        waiting.removeAll()
        context.fireChannelInactive()
    }

    func read(context: ChannelHandlerContext) {
        if case .reading = state {
            readDeferred = true
        } else {
            context.read()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), owed > 0 { owed -= 1 }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // On graceful shutdown Hummingbird closes connections with no request in progress. A request held here
        // is one: the router gets it before the event. So is a read under way: the event waits for its answer.
        if event is ChannelShouldQuiesceEvent {
            if case .reading = state {
                quiesceDeferred = true
                return
            }
            release(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// A resolve this handler may hold back: the single route, over HTTP/1.1 on a connection that stays open,
    /// with no `Expect: 100-continue` to answer first.
    static func mayAnswer(_ head: HTTPRequestHead) -> Bool {
        guard head.method == .POST, head.version == .http1_1, head.uri == path, head.isKeepAlive else { return false }
        return !head.headers.contains(name: "expect")
    }

    /// The services token as ``ServicesTokenHeader`` finds it, if it is plain visible ASCII (as every services
    /// token is; anything else goes to the router, whose header conversion may change it).
    static func servicesToken(in headers: HTTPHeaders) -> String? {
        guard let token = ServicesTokenHeader.token(in: headers), !token.isEmpty, token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return nil
        }
        return token
    }

    private func pass(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        owed += 1
        state = .passing
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    /// Passes a held request, as far as it has arrived, on to the router.
    private func release(context: ChannelHandlerContext) {
        guard case .holding(let head, let body, _) = state else { return }
        pass(head, context: context)
        if let body { context.fireChannelRead(wrapInboundOut(.body(body))) }
    }

    /// Writes an answer with the headers the router's answer carries.
    private func write(_ status: HTTPResponseStatus, _ body: ByteBuffer, context: ChannelHandlerContext) {
        let head = HTTPResponseHead(
            version: .http1_1, status: status,
            headers: [
                "Content-Type": "application/json; charset=utf-8",
                "Content-Length": String(body.readableBytes),
                "Date": date.current(),
                "Server": serverName,
            ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
        answeredSinceFlush = true
    }
}

/// An HTTP/1 connection as `Inner` sets it up, with a ``ResolveFastPath`` (made for each connection) put
/// between NIO's HTTP/1 codec and the conversion to Swift HTTP Types.
struct FastPathChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value

    let inner: Inner
    let makeFastPath: @Sendable () -> ResolveFastPath

    init(_ inner: Inner, fastPath: @escaping @Sendable () -> ResolveFastPath) {
        self.inner = inner
        self.makeFastPath = fastPath
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            try operations.addHandler(makeFastPath(), position: .before(try operations.handler(type: HTTP1ToHTTPServerCodec.self)))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// The `Date` header's value (RFC 9110's IMF-fixdate, always GMT), made again only when the second changes.
struct HTTPDate {
    private var second = Int.min
    private var text = ""

    mutating func current(now: Date = Date()) -> String {
        let seconds = Int(now.timeIntervalSince1970.rounded(.down))
        if seconds != second {
            second = seconds
            text = Self.format(seconds)
        }
        return text
    }

    static func format(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}

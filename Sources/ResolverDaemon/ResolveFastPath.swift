import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers `POST /internal/v1/resolve` from the cache on the connection's event loop, before the request
/// reaches the router: a hit then costs no task, no hop to another thread and back, and no response stream.
/// Everything else (a miss, an error, another route, a request asking to close the connection) goes on to the
/// router untouched, which answers it as it would without this handler; so does a request that arrives while
/// the router still owes an answer on the connection, which keeps the answers in the order of the requests.
///
/// Sits in the API listener's pipeline after the HTTP codec (`HTTPRequestPart` in, `HTTPResponsePart` out) and
/// before Hummingbird's connection handling; one per connection, touched only on its event loop.
final class ResolveFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// A single resolve is some 60 bytes; a body past this goes to the router whole, as it arrived.
    static let bodyLimit = 4096
    static let path = "/internal/v1/resolve"

    private enum State {
        /// Between requests.
        case idle
        /// Holding back a resolve request until its end, to answer it here if the cache can.
        case holding(head: HTTPRequest, body: ByteBuffer?, started: ContinuousClock.Instant)
        /// Passing the parts of the current request on to the router.
        case passing
    }

    private let routes: ResolveRoutes
    private let serverName: String
    private var state = State.idle
    /// Requests passed on whose answer the router has not finished writing.
    private var owed = 0
    private var answeredSinceFlush = false
    private var date = HTTPDate()

    init(routes: ResolveRoutes, serverName: String) {
        self.routes = routes
        self.serverName = serverName
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
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
            context.fireChannelRead(data)
        case (.end(let trailers), .holding(let head, let body, let started)):
            if trailers == nil,
               let answer = routes.answerFromCache(headers: head.headerFields, body: body ?? ByteBuffer(), started: started) {
                write(answer, context: context)
            } else {
                release(context: context)
                context.fireChannelRead(data)
            }
            state = .idle
        case (.end, _):
            state = .idle
            context.fireChannelRead(data)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if answeredSinceFlush {
            answeredSinceFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), owed > 0 { owed -= 1 }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // On graceful shutdown Hummingbird closes connections with no request in progress; a request held here
        // is one, so the router gets it before the event.
        if event is ChannelShouldQuiesceEvent { release(context: context) }
        context.fireUserInboundEventTriggered(event)
    }

    /// A resolve this handler may hold back: the single route, on a connection that stays open, with no
    /// `Expect: 100-continue` to answer first.
    static func mayAnswer(_ head: HTTPRequest) -> Bool {
        guard head.method == .post, head.path == path else { return false }
        for field in head.headerFields {
            if field.name == .expect { return false }
            if field.name == .connection, field.value.lowercased().contains("close") { return false }
        }
        return true
    }

    private func pass(_ head: HTTPRequest, context: ChannelHandlerContext) {
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

    /// Writes the 200 answer with the headers the router's answer carries.
    private func write(_ body: ByteBuffer, context: ChannelHandlerContext) {
        let head = HTTPResponse(status: .ok, headerFields: [
            .contentType: "application/json; charset=utf-8",
            .contentLength: String(body.readableBytes),
            .date: date.current(),
            .server: serverName,
        ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
        answeredSinceFlush = true
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

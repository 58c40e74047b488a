import HTTPTypes
import NIOCore
import NIOHTTP1

/// The front of each connection's pipeline (raw bytes in): counts the connection against its listener's limit,
/// closing it at once past the limit, and closes it when the client takes too long. Sees when a request's first
/// byte arrives; ``RequestBoundaries``, after the HTTP/1 decoder, tells it where requests end and answers begin
/// and end. The connection is, at any moment, in one of three phases:
///
/// - idle: nothing being read, no answer owed. Closed after the idle timeout.
/// - reading: bytes of a request arrived, not yet its end, and every request read before it is answered. Answered
///   408 (unless an answer is under way) and closed after the request read timeout, counted from whichever came
///   later: the request's first byte, or the answer to the request before it (a client is not to blame for the
///   time the server takes).
/// - answering: a request read in full waits for its answer (router, fast path's database read). No deadline.
///
/// One timer at a time, armed only when none is: it fires no later than the shortest timeout after it was armed,
/// so never after a deadline that began since, and when it fires it closes the connection or arms itself again
/// for the deadline in force. A request therefore costs a clock read per phase, not a timer of its own.
///
/// A request whose first bytes arrive in the same read as the end of the request before it is seen only once its
/// head is decoded (or more bytes arrive): until then the connection counts as idle, so such a request is bounded
/// by the idle timeout plus the read timeout.
final class ConnectionDeadlines: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase { case idle, reading, answering }

    private let connections: ListenerConnections
    private let idleTimeout: TimeAmount
    private let readTimeout: TimeAmount
    /// The longest a timer is armed for: the shorter timeout.
    private let tick: TimeAmount

    private var context: ChannelHandlerContext?
    /// Counted in the listener's open connections (and not yet uncounted).
    private var counted = false
    private var closing = false
    private var phase = Phase.idle
    private var phaseStart = NIODeadline.now()
    private var timer: Scheduled<Void>?

    /// Bytes arrived since the end of the last request read.
    private var bytesSinceEnd = false
    /// Request heads and ends decoded, answers ended.
    private var heads = 0
    private var ends = 0
    private var answers = 0
    /// An answer's head is written, not yet its end.
    private var answerUnderWay = false

    init(connections: ListenerConnections) {
        self.connections = connections
        self.idleTimeout = TimeAmount(connections.limits.idleTimeout)
        self.readTimeout = TimeAmount(connections.limits.requestReadTimeout)
        self.tick = min(idleTimeout, readTimeout)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        start(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !bytesSinceEnd && unwrapInboundIn(data).readableBytes > 0 {
            bytesSinceEnd = true
            update()
        }
        context.fireChannelRead(data)
    }

    // Told by ``RequestBoundaries``.

    func requestBegan() {
        heads += 1
        update()
    }

    func requestEnded() {
        ends += 1
        bytesSinceEnd = false
        update()
    }

    func answerBegan() {
        answerUnderWay = true
    }

    func answerEnded() {
        answerUnderWay = false
        answers += 1
        update()
    }

    /// Counts the connection, or closes it when the listener is full; then starts the idle deadline.
    private func start(context: ChannelHandlerContext) {
        guard !counted, !closing else { return }
        counted = true
        guard connections.opened() else {
            close(.overLimit)
            return
        }
        phaseStart = .now()
        arm()
    }

    private func stop() {
        timer?.cancel()
        timer = nil
        if counted {
            counted = false
            connections.closed()
        }
    }

    private var currentPhase: Phase {
        if answers < ends { return .answering }
        return bytesSinceEnd || heads > ends ? .reading : .idle
    }

    private func update() {
        let next = currentPhase
        guard next != phase else { return }
        phase = next
        guard next != .answering else { return }  // no deadline: neither a clock read nor a timer
        phaseStart = .now()
        if timer == nil { arm() }
    }

    /// The end of the current phase; nil while answering.
    private var deadline: NIODeadline? {
        switch phase {
        case .idle: phaseStart + idleTimeout
        case .reading: phaseStart + readTimeout
        case .answering: nil
        }
    }

    private func arm() {
        guard let context, counted, !closing, let deadline else { return }
        let at = min(deadline, .now() + tick)
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: at) { [self] in
            timer = nil
            guard let deadline = self.deadline else { return }
            if deadline <= .now() {
                close(phase == .idle ? .idle : .readTimeout)
            } else {
                arm()
            }
        }
    }

    private func close(_ reason: ConnectionClosing) {
        guard let context, !closing else { return }
        closing = true
        timer?.cancel()
        timer = nil
        connections.record(reason)
        if reason == .readTimeout && !answerUnderWay {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: Self.timeoutAnswer)), promise: nil)
        }
        context.close(promise: nil)
    }

    /// The 408 sent before closing a connection whose request did not arrive in time.
    static let timeoutAnswer: [UInt8] = {
        let body = APIError(.requestTimeout, "request_timeout", "the request did not arrive in time").body
        let head =
            "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: \(body.count)\r\n"
            + "Connection: close\r\nServer: \(serverName)\r\n\r\n"
        return Array(head.utf8) + body
    }()
}

/// Right after NIO's HTTP/1 request decoder: tells ``ConnectionDeadlines`` where each request begins and ends, and
/// each answer (written by whichever handler answers) begins and ends. Passes everything on unchanged.
final class RequestBoundaries: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let deadlines: ConnectionDeadlines

    init(_ deadlines: ConnectionDeadlines) {
        self.deadlines = deadlines
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: deadlines.requestBegan()
        case .body: break
        case .end: deadlines.requestEnded()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head: deadlines.answerBegan()
        case .body: break
        case .end: deadlines.answerEnded()
        }
        context.write(data, promise: promise)
    }
}

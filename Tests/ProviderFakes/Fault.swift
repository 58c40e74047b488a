/// A failure a fake provider can be told to answer with instead of (or before) its normal answer.
public enum Fault: Sendable, Hashable {
    /// Answer normally.
    case none
    /// Wait this long, then answer normally.
    case slow(Duration)
    /// Answer `status` (a 5xx unless a test wants otherwise) with a small JSON body.
    case serverError(status: Int = 503)
    /// Answer 429 with `Retry-After: retryAfterSeconds`.
    case rateLimited(retryAfterSeconds: Int)
    /// Close the connection without answering.
    case dropConnection
}

import Synchronization

/// The failure switches of one fake server: a standing fault, and faults for just the next few requests.
///
/// Every endpoint consults it before answering; a queued fault wins over the standing one.
public final class FaultInjection: Sendable {
    private struct State {
        var standing: Fault = .none
        var queued: [(fault: Fault, remaining: Int)] = []
        var injected = 0
    }

    private let state = Mutex(State())

    /// Switches that start with no fault.
    public init() {}

    /// Applies `fault` to every request from now on, after any queued ones.
    public func set(_ fault: Fault) {
        state.withLock { $0.standing = fault }
    }

    /// Applies `fault` to the next `count` requests only, after those already queued; then the standing fault resumes.
    public func failNext(_ count: Int, with fault: Fault) {
        precondition(count >= 0, "negative request count")
        guard count > 0 else { return }
        state.withLock { $0.queued.append((fault, count)) }
    }

    /// Drops the standing fault and every queued one.
    public func clear() {
        state.withLock {
            $0.standing = .none
            $0.queued.removeAll()
        }
    }

    /// How many requests were answered with a fault other than `.none`.
    public var injectedCount: Int { state.withLock { $0.injected } }

    /// The fault for the request arriving now, consuming one queued fault if there is any.
    func next() -> Fault {
        state.withLock { state in
            let fault: Fault
            if let first = state.queued.first {
                fault = first.fault
                if first.remaining > 1 {
                    state.queued[0].remaining -= 1
                } else {
                    state.queued.removeFirst()
                }
            } else {
                fault = state.standing
            }
            if fault != .none { state.injected += 1 }
            return fault
        }
    }
}

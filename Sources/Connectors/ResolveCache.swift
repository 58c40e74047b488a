public import Foundation
import Synchronization

/// A bounded in-memory cache of resolve answers, keyed by user and provider.
///
/// It only serves while it hears every change (``setListening(_:)``): the change listener turns it off when
/// its connection drops and clears and re-enables it once it listens again. An answer read from the database
/// is kept only if no change arrived while it was being read (the epoch check), so a change racing a read
/// never leaves a stale entry. An entry is never served once its token is within the caller's
/// `min_valid_seconds` of expiry.
public final class ResolveCache<Value: Sendable>: Sendable {
    public struct Key: Hashable, Sendable {
        public var userID: String
        public var provider: String
        public init(userID: String, provider: String) {
            self.userID = userID
            self.provider = provider
        }
    }

    private struct Entry {
        var value: Value
        var expiresAt: Date?
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var epoch: UInt64 = 0
        var listening = false
    }

    /// The most entries held; 0 disables the cache.
    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int) {
        self.capacity = max(0, capacity)
    }

    /// A token taken before reading the database; ``insert(_:for:expiresAt:epoch:)`` keeps the answer only if
    /// nothing changed meanwhile.
    public var epoch: UInt64 { state.withLock { $0.epoch } }

    public var count: Int { state.withLock { $0.entries.count } }

    /// The cached answer, if there is one valid for at least `minValidSeconds` after `now`.
    public func value(for key: Key, minValidSeconds: Int, now: Date) -> Value? {
        guard capacity > 0 else { return nil }
        return state.withLock { state -> Value? in
            guard state.listening, let entry = state.entries[key] else { return nil }
            if let expiresAt = entry.expiresAt, expiresAt.timeIntervalSince(now) < Double(minValidSeconds) { return nil }
            return entry.value
        }
    }

    public func insert(_ value: Value, for key: Key, expiresAt: Date?, epoch: UInt64) {
        guard capacity > 0 else { return }
        state.withLock { state in
            guard state.listening, state.epoch == epoch else { return }
            if state.entries.count >= capacity, state.entries[key] == nil, let victim = state.entries.keys.randomElement() {
                state.entries.removeValue(forKey: victim)
            }
            state.entries[key] = Entry(value: value, expiresAt: expiresAt)
        }
    }

    /// Forgets one key (a change announced for it).
    public func invalidate(_ key: Key) {
        state.withLock { state in
            state.epoch &+= 1
            state.entries.removeValue(forKey: key)
        }
    }

    /// Forgets everything and serves (true) or stops serving (false): the change listener's state.
    public func setListening(_ listening: Bool) {
        state.withLock { state in
            state.epoch &+= 1
            state.entries.removeAll()
            state.listening = listening
        }
    }
}

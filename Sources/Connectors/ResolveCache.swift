public import Foundation
import Synchronization

/// A bounded in-memory cache of resolve answers, keyed by user and provider.
///
/// It only serves while it hears every change (``setListening(_:)``): the change listener turns it off when
/// its connection drops and clears and re-enables it once it listens again. An answer read from the database
/// is kept only if no change arrived while it was being read (the epoch check), so a change racing a read
/// never leaves a stale entry. An entry is never served once its token is within the caller's
/// `min_valid_seconds` of expiry.
///
/// Answers are bytes, kept back to back in 1 MiB chunks rather than one allocation each: with 100k answers of
/// a few hundred bytes this halves the memory an array per answer costs (allocator headers and fragmentation
/// included). Space freed by invalidation is reclaimed when a chunk empties, and by compaction once more than
/// half of what the chunks hold is dead.
///
/// A full cache makes room by evicting an entry chosen at random, in constant time: every key also sits in an
/// array, and its slot knows where.
public final class ResolveCache: Sendable {
    public struct Key: Hashable, Sendable {
        public var userID: String
        public var provider: String
        public init(userID: String, provider: String) {
            self.userID = userID
            self.provider = provider
        }
    }

    /// Where an answer lives: chunk, offset and length, and its token's expiry (seconds since 1970; NaN: never).
    private struct Slot {
        var chunk: UInt32
        var offset: UInt32
        var length: UInt32
        var expiresAt: Double
        /// The key's place in `State.keys`.
        var position: UInt32
    }

    private struct Chunk {
        var bytes: [UInt8]
        var live: Int
    }

    private struct State {
        var entries: [Key: Slot] = [:]
        /// Every key of `entries`, in no order: what random eviction draws from.
        var keys: [Key] = []
        var chunks: [Chunk] = []
        /// Chunks emptied by invalidation, ready for reuse.
        var free: [Int] = []
        /// The chunk being appended to.
        var current: Int?
        var liveBytes = 0
        var heldBytes = 0
        var epoch: UInt64 = 0
        var listening = false
    }

    /// The usual chunk size; a larger answer gets a chunk of its own.
    public static let chunkSize = 1 << 20

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

    /// Bytes held in chunks, live or not yet reclaimed.
    public var heldBytes: Int { state.withLock { $0.heldBytes } }

    /// Calls `body` with the cached answer, if there is one valid for at least `minValidSeconds` after `now`;
    /// the bytes are valid only inside `body`, which runs under the cache's lock and must be quick.
    public func withValue<Result: Sendable>(
        for key: Key, minValidSeconds: Int, now: Date, _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result? {
        guard capacity > 0 else { return nil }
        return try state.withLock { state -> Result? in
            guard state.listening, let slot = state.entries[key] else { return nil }
            if !slot.expiresAt.isNaN, slot.expiresAt - now.timeIntervalSince1970 < Double(minValidSeconds) { return nil }
            return try state.chunks[Int(slot.chunk)].bytes.withUnsafeBytes { chunk in
                try body(UnsafeRawBufferPointer(rebasing: chunk[Int(slot.offset)..<Int(slot.offset + slot.length)]))
            }
        }
    }

    /// The cached answer's bytes, copied (see ``withValue(for:minValidSeconds:now:_:)``).
    public func value(for key: Key, minValidSeconds: Int, now: Date) -> [UInt8]? {
        withValue(for: key, minValidSeconds: minValidSeconds, now: now) { Array($0) }
    }

    public func insert(_ value: some Collection<UInt8>, for key: Key, expiresAt: Date?, epoch: UInt64) {
        guard capacity > 0, value.count <= UInt32.max else { return }
        state.withLock { state in
            guard state.listening, state.epoch == epoch else { return }
            Self.remove(key, from: &state)
            if state.entries.count >= capacity, let victim = state.keys.randomElement() {
                Self.remove(victim, from: &state)
            }
            let (chunk, offset) = Self.reserve(value.count, in: &state)
            state.chunks[chunk].bytes.append(contentsOf: value)
            state.chunks[chunk].live += value.count
            state.liveBytes += value.count
            state.entries[key] = Slot(
                chunk: UInt32(chunk), offset: UInt32(offset), length: UInt32(value.count),
                expiresAt: expiresAt?.timeIntervalSince1970 ?? .nan, position: UInt32(state.keys.count))
            state.keys.append(key)
        }
    }

    /// Drops `key`'s entry, if any: the last key takes its place in `keys`, and its bytes are released.
    private static func remove(_ key: Key, from state: inout State) {
        guard let slot = state.entries.removeValue(forKey: key) else { return }
        let last = state.keys.removeLast()
        if Int(slot.position) < state.keys.count {
            state.keys[Int(slot.position)] = last
            state.entries[last]?.position = slot.position
        }
        release(slot, in: &state)
    }

    /// Forgets one key (a change announced for it).
    public func invalidate(_ key: Key) {
        state.withLock { state in
            state.epoch &+= 1
            Self.remove(key, from: &state)
        }
    }

    /// Forgets everything and serves (true) or stops serving (false): the change listener's state.
    public func setListening(_ listening: Bool) {
        state.withLock { state in
            let epoch = state.epoch &+ 1
            state = State()
            state.epoch = epoch
            state.listening = listening
        }
    }

    /// A chunk with room for `length` more bytes, and the offset they will start at.
    private static func reserve(_ length: Int, in state: inout State) -> (chunk: Int, offset: Int) {
        if let current = state.current, state.chunks[current].bytes.count + length <= state.chunks[current].bytes.capacity {
            return (current, state.chunks[current].bytes.count)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(max(chunkSize, length))
        state.heldBytes += bytes.capacity
        let chunk = Chunk(bytes: bytes, live: 0)
        let index: Int
        if let reused = state.free.popLast() {
            state.chunks[reused] = chunk
            index = reused
        } else {
            state.chunks.append(chunk)
            index = state.chunks.count - 1
        }
        // A chunk of its own for an oversized answer leaves the current chunk current.
        if length <= chunkSize { state.current = index }
        return (index, 0)
    }

    /// Marks an answer's bytes dead: frees its chunk once nothing in it lives, compacts once most bytes are dead.
    private static func release(_ slot: Slot, in state: inout State) {
        let index = Int(slot.chunk)
        state.chunks[index].live -= Int(slot.length)
        state.liveBytes -= Int(slot.length)
        if state.chunks[index].live == 0 {
            state.heldBytes -= state.chunks[index].bytes.capacity
            state.chunks[index] = Chunk(bytes: [], live: 0)
            state.free.append(index)
            if state.current == index { state.current = nil }
        } else if state.heldBytes > 4 * chunkSize && state.liveBytes < state.heldBytes / 2 {
            compact(&state)
        }
    }

    /// Copies every live answer into fresh chunks, in one pass.
    private static func compact(_ state: inout State) {
        let old = state.chunks
        var fresh = State()
        fresh.epoch = state.epoch
        fresh.listening = state.listening
        fresh.entries.reserveCapacity(state.entries.count)
        fresh.keys = state.keys
        for (key, slot) in state.entries {
            let start = Int(slot.offset)
            let (chunk, offset) = reserve(Int(slot.length), in: &fresh)
            fresh.chunks[chunk].bytes.append(contentsOf: old[Int(slot.chunk)].bytes[start..<start + Int(slot.length)])
            fresh.chunks[chunk].live += Int(slot.length)
            fresh.liveBytes += Int(slot.length)
            fresh.entries[key] = Slot(
                chunk: UInt32(chunk), offset: UInt32(offset), length: slot.length, expiresAt: slot.expiresAt, position: slot.position)
        }
        state = fresh
    }
}

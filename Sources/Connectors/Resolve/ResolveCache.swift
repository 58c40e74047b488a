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
/// Memory is what bounds a large cache, so it is laid out by hand:
/// - Each key's bytes (provider, a 0xFF byte, which UTF-8 never contains, then the user id) and its answer sit
///   back to back in 1 MiB chunks, not in an allocation each. Space freed by invalidation is reclaimed when a
///   chunk empties, and by compaction once more than half of what the chunks hold is dead.
/// - Entries (where the bytes are, the key's hash, the expiry) are 24 bytes each, in one dense array.
/// - An open-addressing table of 4-byte entry numbers, at most half full, finds an entry by its key's hash.
///   With 100k answers this costs about 3.5 MB besides the keys' and answers' bytes, where a dictionary from
///   keys to slots plus the array of keys random eviction needs cost about 20 MB.
///
/// A full cache makes room by evicting an entry chosen at random, in constant time: the last entry moves into
/// the evicted one's place in the array, and the table's number for it follows.
public final class ResolveCache: Sendable {
    /// A user and provider, compared and hashed by their UTF-8 bytes as PostgreSQL compares them (never by
    /// Swift's canonical equivalence, under which differently normalised user ids would be one key).
    public struct Key: Hashable, Sendable {
        public var userID: String
        public var provider: String
        public init(userID: String, provider: String) {
            self.userID = userID
            self.provider = provider
        }

        public static func == (lhs: Key, rhs: Key) -> Bool { lhs.matches(userID: rhs.userID, provider: rhs.provider) }

        public func hash(into hasher: inout Hasher) {
            ResolveCache.withBytes(of: self) { provider, user in
                hasher.combine(bytes: provider)
                hasher.combine(ResolveCache.separator)
                hasher.combine(bytes: user)
            }
        }

        /// True when a connector of `userID` for `provider` is this key's, byte for byte.
        public func matches(userID: String, provider: String) -> Bool {
            self.userID.utf8.elementsEqual(userID.utf8) && self.provider.utf8.elementsEqual(provider.utf8)
        }
    }

    /// Where an entry's key and answer bytes live (chunk, offset of the key, lengths), its key's hash and its
    /// token's expiry: whole seconds since 1970, rounded down (so an entry stops being served up to a second
    /// early, never late), or `never`.
    private struct Entry {
        var expiresAt: UInt32
        var chunk: UInt32
        var offset: UInt32
        var keyLength: UInt32
        var valueLength: UInt32
        var hash: UInt32
    }

    private struct Chunk {
        var bytes: [UInt8]
        var live: Int
    }

    private struct State {
        var entries: [Entry] = []
        /// Entry numbers by hash, linear probing; `empty` where there is none. Its size is a power of two, at
        /// least twice the number of entries; empty until the first insert.
        var table: [Int32] = []
        var chunks: [Chunk] = []
        /// Chunks emptied by invalidation, ready for reuse.
        var free: [Int] = []
        /// The chunk being appended to.
        var current: Int?
        var liveBytes = 0
        var heldBytes = 0
        var epoch: UInt64 = 0
        var listening = false

        var mask: Int { table.count - 1 }
    }

    private static let empty: Int32 = -1
    private static let never = UInt32.max
    fileprivate static let separator: UInt8 = 0xFF

    /// The usual chunk size; a larger answer gets a chunk of its own.
    public static let chunkSize = 1 << 20

    /// The most entries held; 0 disables the cache.
    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int) {
        // Entry numbers are 31-bit; the daemon's own limit is far below.
        self.capacity = min(max(0, capacity), Int(Int32.max) / 2)
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
        return try Self.withBytes(of: key) { provider, user in
            let hash = Self.hash(provider, user)
            return try state.withLock { state -> Result? in
                guard state.listening, let (_, index) = Self.find(provider, user, hash: hash, in: state) else { return nil }
                let entry = state.entries[index]
                if entry.expiresAt != Self.never, Double(entry.expiresAt) - now.timeIntervalSince1970 < Double(minValidSeconds) {
                    return nil
                }
                return try state.chunks[Int(entry.chunk)].bytes.withUnsafeBytes { chunk in
                    let start = Int(entry.offset + entry.keyLength)
                    return try body(UnsafeRawBufferPointer(rebasing: chunk[start..<start + Int(entry.valueLength)]))
                }
            }
        }
    }

    /// The cached answer's bytes, copied (see ``withValue(for:minValidSeconds:now:_:)``).
    public func value(for key: Key, minValidSeconds: Int, now: Date) -> [UInt8]? {
        withValue(for: key, minValidSeconds: minValidSeconds, now: now) { Array($0) }
    }

    public func insert(_ value: some Collection<UInt8>, for key: Key, expiresAt: Date?, epoch: UInt64) {
        guard capacity > 0 else { return }
        Self.withBytes(of: key) { provider, user in
            let keyLength = provider.count + 1 + user.count
            guard keyLength + value.count <= UInt32.max else { return }
            let hash = Self.hash(provider, user)
            state.withLock { state in
                guard state.listening, state.epoch == epoch else { return }
                if let (slot, index) = Self.find(provider, user, hash: hash, in: state) {
                    Self.remove(index, at: slot, from: &state)
                }
                if state.entries.count >= capacity {
                    Self.remove(Int.random(in: 0..<state.entries.count), from: &state)
                }
                if 2 * (state.entries.count + 1) > state.table.count { Self.growTable(&state) }
                let (chunk, offset) = Self.reserve(keyLength + value.count, in: &state)
                state.chunks[chunk].bytes.append(contentsOf: provider)
                state.chunks[chunk].bytes.append(Self.separator)
                state.chunks[chunk].bytes.append(contentsOf: user)
                state.chunks[chunk].bytes.append(contentsOf: value)
                Self.place(state.entries.count, hash: hash, in: &state)
                state.entries.append(
                    Entry(
                        expiresAt: Self.seconds(expiresAt), chunk: UInt32(chunk), offset: UInt32(offset),
                        keyLength: UInt32(keyLength), valueLength: UInt32(value.count), hash: hash))
            }
        }
    }

    /// Forgets one key (a change announced for it).
    public func invalidate(_ key: Key) {
        Self.withBytes(of: key) { provider, user in
            let hash = Self.hash(provider, user)
            state.withLock { state in
                state.epoch &+= 1
                if let (slot, index) = Self.find(provider, user, hash: hash, in: state) {
                    Self.remove(index, at: slot, from: &state)
                }
            }
        }
    }

    /// Whether the change listener listens, so that the cache serves.
    public var isListening: Bool { state.withLock { $0.listening } }

    /// Forgets everything and serves (true) or stops serving (false): the change listener's state.
    public func setListening(_ listening: Bool) {
        state.withLock { state in
            let epoch = state.epoch &+ 1
            state = State()
            state.epoch = epoch
            state.listening = listening
        }
    }

    /// An expiry as an entry keeps it: dates before 1970 are long past, dates after 2106 are a second before.
    private static func seconds(_ expiresAt: Date?) -> UInt32 {
        guard let seconds = expiresAt?.timeIntervalSince1970.rounded(.down) else { return never }
        return UInt32(min(max(seconds, 0), Double(never - 1)))
    }

    // MARK: Keys

    /// Calls `body` with the key's provider and user id as UTF-8, without copying native strings.
    fileprivate static func withBytes<Result>(
        of key: Key, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        var provider = key.provider
        var user = key.userID
        return try provider.withUTF8 { provider in
            try user.withUTF8 { user in try body(UnsafeRawBufferPointer(provider), UnsafeRawBufferPointer(user)) }
        }
    }

    /// The key's hash, seeded per process like every Swift hash, so that chosen user ids cannot pile up.
    private static func hash(_ provider: UnsafeRawBufferPointer, _ user: UnsafeRawBufferPointer) -> UInt32 {
        var hasher = Hasher()
        hasher.combine(bytes: provider)
        hasher.combine(separator)
        hasher.combine(bytes: user)
        return UInt32(truncatingIfNeeded: hasher.finalize())
    }

    /// The table slot and entry number holding the key, if it is cached.
    private static func find(
        _ provider: UnsafeRawBufferPointer, _ user: UnsafeRawBufferPointer, hash: UInt32, in state: State
    ) -> (slot: Int, index: Int)? {
        guard !state.table.isEmpty else { return nil }
        let keyLength = provider.count + 1 + user.count
        var slot = Int(hash) & state.mask
        while true {
            let number = state.table[slot]
            if number == empty { return nil }
            let entry = state.entries[Int(number)]
            if entry.hash == hash, Int(entry.keyLength) == keyLength,
                state.chunks[Int(entry.chunk)].bytes.withUnsafeBytes({ chunk in
                    let stored = UnsafeRawBufferPointer(rebasing: chunk[Int(entry.offset)..<Int(entry.offset) + keyLength])
                    return stored.starts(with: provider) && stored[provider.count] == separator
                        && stored[(provider.count + 1)...].elementsEqual(user)
                })
            {
                return (slot, Int(number))
            }
            slot = (slot + 1) & state.mask
        }
    }

    /// The table slot holding entry number `index`.
    private static func slot(of index: Int, in state: State) -> Int {
        var slot = Int(state.entries[index].hash) & state.mask
        while state.table[slot] != Int32(index) { slot = (slot + 1) & state.mask }
        return slot
    }

    /// A table twice the size (at least 16 slots), every entry placed again by its hash.
    private static func growTable(_ state: inout State) {
        state.table = Array(repeating: empty, count: max(16, 2 * state.table.count))
        for (index, entry) in state.entries.enumerated() { place(index, hash: entry.hash, in: &state) }
    }

    /// Puts entry number `index` in the first empty slot from its hash's home.
    private static func place(_ index: Int, hash: UInt32, in state: inout State) {
        var slot = Int(hash) & state.mask
        while state.table[slot] != empty { slot = (slot + 1) & state.mask }
        state.table[slot] = Int32(index)
    }

    // MARK: Removal

    private static func remove(_ index: Int, from state: inout State) {
        remove(index, at: slot(of: index, in: state), from: &state)
    }

    /// Drops entry number `index`, found at table slot `slot`: the slot is emptied without leaving a marker
    /// (later entries of its probe run move back into it), the last entry takes the number, and the bytes are
    /// released.
    private static func remove(_ index: Int, at slot: Int, from state: inout State) {
        var hole = slot
        var next = slot
        while true {
            next = (next + 1) & state.mask
            let number = state.table[next]
            if number == empty { break }
            // The entry at `next` may fill the hole only if the hole lies on its way from its home slot.
            let home = Int(state.entries[Int(number)].hash) & state.mask
            if (next - home) & state.mask >= (next - hole) & state.mask {
                state.table[hole] = number
                hole = next
            }
        }
        state.table[hole] = empty

        let removed = state.entries[index]
        let last = state.entries.count - 1
        if index != last {
            state.table[self.slot(of: last, in: state)] = Int32(index)
            state.entries[index] = state.entries[last]
        }
        state.entries.removeLast()
        release(removed, in: &state)
    }

    // MARK: Chunks

    /// A chunk with room for `length` more bytes, and the offset they will start at; the bytes count as live
    /// from here on, and the caller appends exactly `length` of them.
    private static func reserve(_ length: Int, in state: inout State) -> (chunk: Int, offset: Int) {
        let index = chunk(withRoomFor: length, in: &state)
        state.chunks[index].live += length
        state.liveBytes += length
        return (index, state.chunks[index].bytes.count)
    }

    /// The current chunk if `length` more bytes fit, else a new one.
    private static func chunk(withRoomFor length: Int, in state: inout State) -> Int {
        if let current = state.current, state.chunks[current].bytes.count + length <= state.chunks[current].bytes.capacity {
            return current
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
        return index
    }

    /// Marks an entry's bytes dead: frees its chunk once nothing in it lives, compacts once most bytes are dead.
    private static func release(_ entry: Entry, in state: inout State) {
        let index = Int(entry.chunk)
        let length = Int(entry.keyLength + entry.valueLength)
        state.chunks[index].live -= length
        state.liveBytes -= length
        if state.chunks[index].live == 0 {
            state.heldBytes -= state.chunks[index].bytes.capacity
            state.chunks[index] = Chunk(bytes: [], live: 0)
            state.free.append(index)
            if state.current == index { state.current = nil }
        } else if state.heldBytes > 4 * chunkSize && state.liveBytes < state.heldBytes / 2 {
            compact(&state)
        }
    }

    /// Copies every live key and answer into fresh chunks, in one pass; entry numbers and the table stay.
    private static func compact(_ state: inout State) {
        let old = state.chunks
        state.chunks = []
        state.free = []
        state.current = nil
        state.liveBytes = 0
        state.heldBytes = 0
        for index in state.entries.indices {
            let entry = state.entries[index]
            let start = Int(entry.offset)
            let length = Int(entry.keyLength + entry.valueLength)
            let (chunk, offset) = reserve(length, in: &state)
            state.chunks[chunk].bytes.append(contentsOf: old[Int(entry.chunk)].bytes[start..<start + length])
            state.entries[index].chunk = UInt32(chunk)
            state.entries[index].offset = UInt32(offset)
        }
    }
}

import CLibCrypto
import Synchronization

/// Keyed GCM contexts for one key and direction, shared by concurrent tasks.
///
/// A task checks a context out, uses it alone and returns it. The first context made becomes the primary: it
/// lives in `slot`, is taken with one atomic exchange and put back with a plain release store (only its holder
/// ever writes a non-zero value into `slot`, so no read-modify-write is needed). Tasks that find the slot empty
/// use spare contexts from a locked list, keying new ones when none is idle (keying costs several seals, so up to
/// `maxSpare` are kept).
final class GCMContextPool: Sendable {
    private static let maxSpare = 16

    private let direction: GCMContext.Direction
    /// The primary context's pointer bits while idle; 0 while checked out or before it exists.
    private let slot = Atomic<UInt>(0)
    /// The primary context's pointer bits once made; never changes afterwards.
    private let primary = Atomic<UInt>(0)
    private let spare = Mutex<[UInt]>([])

    init(direction: GCMContext.Direction) {
        self.direction = direction
    }

    deinit {
        // No task can hold a context now (each holds the key storage that owns this pool), so the primary is idle.
        let bits = primary.load(ordering: .acquiring)
        if bits != 0 { GCMContext(bits: bits).free() }
        spare.withLock { contexts in
            for bits in contexts { GCMContext(bits: bits).free() }
            contexts.removeAll()
        }
    }

    /// Takes an idle context or keys a new one; pair with `checkIn`.
    @inline(__always)
    func checkOut(key: UnsafeRawBufferPointer) throws -> GCMContext {
        let bits = slot.exchange(0, ordering: .acquiring)
        if bits != 0 { return GCMContext(bits: bits) }
        return try checkOutSpare(key: key)
    }

    private func checkOutSpare(key: UnsafeRawBufferPointer) throws -> GCMContext {
        if let bits = spare.withLock({ $0.popLast() }) { return GCMContext(bits: bits) }
        let context = try GCMContext(key: key, direction: direction)
        // The first context ever made becomes the primary; it is checked out right now, so `slot` stays 0.
        _ = primary.compareExchange(expected: 0, desired: context.bits, ordering: .relaxed)
        return context
    }

    /// Returns a context after use, also after a failure: every message starts by setting a fresh IV, which resets
    /// the GCM state, so a context never carries anything from one message into the next.
    @inline(__always)
    func checkIn(_ context: GCMContext) {
        if context.bits == primary.load(ordering: .relaxed) {
            slot.store(context.bits, ordering: .releasing)
        } else {
            checkInSpare(context)
        }
    }

    private func checkInSpare(_ context: GCMContext) {
        let kept = spare.withLock { contexts in
            guard contexts.count < Self.maxSpare else { return false }
            contexts.append(context.bits)
            return true
        }
        if !kept { context.free() }
    }
}

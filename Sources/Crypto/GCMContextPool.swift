import CLibCrypto
import Synchronization

/// Keyed GCM contexts for one key and direction, shared by concurrent tasks.
///
/// A task checks a context out, uses it alone and returns it. The common single-task case takes the one
/// context in `slot` with a single atomic exchange; under contention extra contexts wait in `spare`, and with
/// none idle a new one is keyed (keying costs about as much as several seals, so a few are kept).
final class GCMContextPool: Sendable {
    private static let maxSpare = 16

    private let direction: GCMContext.Direction
    /// The fast-path context as pointer bits; 0 when checked out or not yet made.
    private let slot = Atomic<UInt>(0)
    private let spare = Mutex<[UInt]>([])

    init(direction: GCMContext.Direction) {
        self.direction = direction
    }

    deinit {
        let bits = slot.load(ordering: .acquiring)
        if bits != 0 { Self.context(bits).free() }
        spare.withLock { contexts in
            for bits in contexts { Self.context(bits).free() }
            contexts.removeAll()
        }
    }

    /// Takes an idle context or keys a new one; pair with `checkIn`.
    @inline(__always)
    func checkOut(key: UnsafeRawBufferPointer) throws -> GCMContext {
        let bits = slot.exchange(0, ordering: .acquiring)
        if bits != 0 { return Self.context(bits) }
        if let bits = spare.withLock({ $0.popLast() }) { return Self.context(bits) }
        return try GCMContext(key: key, direction: direction)
    }

    /// Returns a context after use; one that failed mid-operation should be passed to `discard` instead.
    @inline(__always)
    func checkIn(_ context: GCMContext) {
        let bits = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(context.handle)))
        if slot.compareExchange(expected: 0, desired: bits, ordering: .releasing).exchanged { return }
        let kept = spare.withLock { contexts in
            guard contexts.count < Self.maxSpare else { return false }
            contexts.append(bits)
            return true
        }
        if !kept { context.free() }
    }

    /// Frees a context whose state is unknown after an OpenSSL failure.
    func discard(_ context: GCMContext) { context.free() }

    private static func context(_ bits: UInt) -> GCMContext {
        GCMContext(handle: OpaquePointer(bitPattern: bits)!)
    }
}

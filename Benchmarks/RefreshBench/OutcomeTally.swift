import RefreshScheduler
import Synchronization

/// The scheduler's refreshes by outcome, with the time each took from its start to its write (the `observe` hook).
final class OutcomeTally: Sendable {
    struct Entry: Sendable {
        var count = 0
        var total: Duration = .zero
        var longest: Duration = .zero

        var mean: Duration { count == 0 ? .zero : total / count }
    }

    private let entries = Mutex<[RefreshOutcome: Entry]>([:])

    func record(_ outcome: RefreshOutcome, _ duration: Duration) {
        entries.withLock { entries in
            entries[outcome, default: Entry()].count += 1
            entries[outcome, default: Entry()].total += duration
            entries[outcome, default: Entry()].longest = max(entries[outcome, default: Entry()].longest, duration)
        }
    }

    var snapshot: [RefreshOutcome: Entry] { entries.withLock { $0 } }
}

@testable import Connectors
import Synchronization
import Testing

/// The batcher against a fetch that the test opens and closes by hand, so that who waits and who goes out
/// together is decided by the test, not by timing.
@Suite struct LookupBatcherTests {
    /// A fetch that records the keys of every call and, while `held`, parks each call until the test releases it.
    final class GatedFetch: Sendable {
        private struct State {
            var calls: [[String]] = []
            var parked: [CheckedContinuation<Void, Never>] = []
            var held = true
            var failNext = false
        }
        private let state = Mutex(State())
        /// The values it knows: every key but "missing" has "value-of-KEY".
        func values(_ keys: [String]) -> [String: String] {
            Dictionary(uniqueKeysWithValues: keys.filter { $0 != "missing" }.map { ($0, "value-of-\($0)") })
        }

        func fetch(_ keys: [String]) async throws -> [String: String] {
            await withCheckedContinuation { continuation in
                let park = state.withLock { state -> Bool in
                    state.calls.append(keys)
                    guard state.held else { return false }
                    state.parked.append(continuation)
                    return true
                }
                if !park { continuation.resume() }
            }
            try Task.checkCancellation()
            let fail = state.withLock { state -> Bool in
                defer { state.failNext = false }
                return state.failNext
            }
            if fail { throw Failure() }
            return values(keys)
        }

        var calls: [[String]] { state.withLock { $0.calls } }
        var parkedCount: Int { state.withLock { $0.parked.count } }
        func failNextRelease() { state.withLock { $0.failNext = true } }

        /// Lets the oldest parked call go on.
        func releaseOne() {
            let next = state.withLock { state in state.parked.isEmpty ? nil : state.parked.removeFirst() }
            next?.resume()
        }

        /// Stops parking and lets every parked call go on.
        func releaseAll() {
            let parked = state.withLock { state in
                state.held = false
                defer { state.parked = [] }
                return state.parked
            }
            for continuation in parked { continuation.resume() }
        }
    }

    struct Failure: Error {}

    /// Waits (briefly yielding) until `condition` holds; the batcher's state changes on other tasks.
    func eventually(_ condition: () -> Bool) async throws {
        for _ in 0..<5_000 where !condition() { try await Task.sleep(for: .milliseconds(1)) }
        #expect(condition())
    }

    @Test func aLookupWithAFreeSlotGoesOutAloneAtOnce() async throws {
        let fetch = GatedFetch()
        fetch.releaseAll()
        let batcher = LookupBatcher<String, String>(maxInFlight: 2, maxBatch: 8) { try await fetch.fetch($0) }
        #expect(try await batcher.value(for: "a") == "value-of-a")
        #expect(try await batcher.value(for: "missing") == nil)
        #expect(fetch.calls == [["a"], ["missing"]])
    }

    @Test func lookupsThatWaitGoOutTogetherOnceASlotFrees() async throws {
        let fetch = GatedFetch()
        let batcher = LookupBatcher<String, String>(maxInFlight: 1, maxBatch: 8) { try await fetch.fetch($0) }
        try await withThrowingTaskGroup(of: (String, String?).self) { group in
            group.addTask { ("a", try await batcher.value(for: "a")) }
            try await eventually { fetch.parkedCount == 1 }
            for key in ["b", "c", "b", "missing"] { group.addTask { (key, try await batcher.value(for: key)) } }
            try await eventually { batcher.waitingCount == 4 }
            fetch.releaseAll()
            var answers: [(String, String?)] = []
            for try await answer in group { answers.append(answer) }
            #expect(answers.count == 5)
            for (key, value) in answers { #expect(value == (key == "missing" ? nil : "value-of-\(key)")) }
        }
        // The first alone; the four waiting ones in one fetch, each key once, led by the oldest.
        #expect(fetch.calls.count == 2)
        #expect(fetch.calls.first == ["a"])
        #expect(Set(fetch.calls.last ?? []) == ["b", "c", "missing"] && fetch.calls.last?.count == 3)
        #expect(batcher.waitingCount == 0)
    }

    @Test func aBatchHoldsAtMostMaxBatchKeysOldestFirst() async throws {
        let fetch = GatedFetch()
        let batcher = LookupBatcher<String, String>(maxInFlight: 1, maxBatch: 2) { try await fetch.fetch($0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { _ = try await batcher.value(for: "k0") }
            try await eventually { fetch.parkedCount == 1 }
            for index in 1...5 {
                group.addTask { _ = try await batcher.value(for: "k\(index)") }
                try await eventually { batcher.waitingCount == index }
            }
            // One fetch at a time: each released fetch passes the slot to the next batch, which parks in turn.
            while fetch.calls.count < 4 {
                let calls = fetch.calls.count
                fetch.releaseOne()
                try await eventually { fetch.calls.count > calls }
            }
            fetch.releaseAll()
            try await group.waitForAll()
        }
        #expect(fetch.calls.map(\.count) == [1, 2, 2, 1])
        #expect(fetch.calls.flatMap { $0 } == ["k0", "k1", "k2", "k3", "k4", "k5"])
    }

    @Test func aFailedFetchFailsItsOwnBatchOnly() async throws {
        let fetch = GatedFetch()
        let batcher = LookupBatcher<String, String>(maxInFlight: 1, maxBatch: 8) { try await fetch.fetch($0) }
        try await withThrowingTaskGroup(of: (String, Bool).self) { group in
            group.addTask { ("a", (try? await batcher.value(for: "a")) != nil) }
            try await eventually { fetch.parkedCount == 1 }
            for key in ["b", "c"] { group.addTask { (key, (try? await batcher.value(for: key)) != nil) } }
            try await eventually { batcher.waitingCount == 2 }
            // The first fetch fails; the waiting batch goes out next and succeeds.
            fetch.failNextRelease()
            fetch.releaseOne()
            try await eventually { fetch.calls.count == 2 }
            fetch.releaseAll()
            var succeeded: [String: Bool] = [:]
            for try await (key, ok) in group { succeeded[key] = ok }
            #expect(succeeded == ["a": false, "b": true, "c": true])
        }
    }

    @Test func anErrorReachesEveryWaiterOfItsBatch() async throws {
        let fetch = GatedFetch()
        let batcher = LookupBatcher<String, String>(maxInFlight: 1, maxBatch: 8) { try await fetch.fetch($0) }
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await batcher.value(for: "a")) != nil }
            try await eventually { fetch.parkedCount == 1 }
            for key in ["b", "c"] { group.addTask { (try? await batcher.value(for: key)) == nil } }
            try await eventually { batcher.waitingCount == 2 }
            fetch.releaseOne()
            try await eventually { fetch.parkedCount == 1 }
            fetch.failNextRelease()
            fetch.releaseAll()
            var outcomes: [Bool] = []
            for try await outcome in group { outcomes.append(outcome) }
            #expect(outcomes == [true, true, true])
        }
    }

    @Test func aCancelledLeaderLeavesItsBatchToTheOthers() async throws {
        let fetch = GatedFetch()
        let batcher = LookupBatcher<String, String>(maxInFlight: 1, maxBatch: 8) { try await fetch.fetch($0) }
        let first = Task { try await batcher.value(for: "a") }
        try await eventually { fetch.parkedCount == 1 }
        // "b" waits, then leads the next fetch with "c" waiting behind it.
        let second = Task { try await batcher.value(for: "b") }
        try await eventually { batcher.waitingCount == 1 }
        let third = Task { try await batcher.value(for: "c") }
        try await eventually { batcher.waitingCount == 2 }
        fetch.releaseOne()
        #expect(try await first.value == "value-of-a")
        try await eventually { fetch.parkedCount == 1 }
        #expect(fetch.calls.last.map(Set.init) == ["b", "c"])
        // The leader of "b" and "c" is cancelled while its fetch runs: it fails, "c" goes out again and gets its value.
        second.cancel()
        fetch.releaseAll()
        await #expect(throws: CancellationError.self) { _ = try await second.value }
        #expect(try await third.value == "value-of-c")
        #expect(fetch.calls.count == 3 && fetch.calls.last == ["c"])
    }
}

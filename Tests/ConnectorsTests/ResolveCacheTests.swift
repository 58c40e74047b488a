import Connectors
import Foundation
import Testing

@Suite struct ResolveCacheTests {
    let key = ResolveCache.Key(userID: "u_1", provider: "gmail")
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func listeningCache(capacity: Int = 10) -> ResolveCache {
        let cache = ResolveCache(capacity: capacity)
        cache.setListening(true)
        return cache
    }

    @Test func servesOnlyWhileListening() {
        let cache = ResolveCache(capacity: 10)
        cache.insertText("a", for: key, expiresAt: nil, epoch: cache.epoch)
        #expect(cache.text(for: key, minValidSeconds: 0, now: now) == nil)
        cache.setListening(true)
        cache.insertText("a", for: key, expiresAt: nil, epoch: cache.epoch)
        #expect(cache.text(for: key, minValidSeconds: 0, now: now) == "a")
        cache.setListening(false)
        #expect(cache.text(for: key, minValidSeconds: 0, now: now) == nil)
        #expect(cache.count == 0)
    }

    @Test func neverServesATokenInsideTheCallersMargin() {
        let cache = listeningCache()
        cache.insertText("a", for: key, expiresAt: now.addingTimeInterval(100), epoch: cache.epoch)
        #expect(cache.text(for: key, minValidSeconds: 60, now: now) == "a")
        #expect(cache.text(for: key, minValidSeconds: 101, now: now) == nil)
        #expect(cache.text(for: key, minValidSeconds: 0, now: now.addingTimeInterval(100)) == "a")
        #expect(cache.text(for: key, minValidSeconds: 0, now: now.addingTimeInterval(101)) == nil)
    }

    /// Expiries are kept in whole seconds, rounded down: an answer may stop being served up to a second early,
    /// never late. An expiry before 1970 is past; none means the answer never expires.
    @Test func expiriesAreRoundedTowardsNow() {
        let cache = listeningCache()
        cache.insertText("a", for: key, expiresAt: now.addingTimeInterval(100.9), epoch: cache.epoch)
        #expect(cache.text(for: key, minValidSeconds: 100, now: now) == "a")
        #expect(cache.text(for: key, minValidSeconds: 100, now: now.addingTimeInterval(0.5)) == nil)
        let past = ResolveCache.Key(userID: "u_past", provider: "gmail")
        cache.insertText("b", for: past, expiresAt: Date(timeIntervalSince1970: -5), epoch: cache.epoch)
        #expect(cache.text(for: past, minValidSeconds: 0, now: now) == nil)
        let forever = ResolveCache.Key(userID: "u_forever", provider: "gmail")
        cache.insertText("c", for: forever, expiresAt: nil, epoch: cache.epoch)
        #expect(cache.text(for: forever, minValidSeconds: 1_000_000_000, now: now) == "c")
    }

    @Test func aChangeDuringTheReadKeepsTheStaleAnswerOut() {
        let cache = listeningCache()
        let epoch = cache.epoch  // a resolve starts reading the database…
        cache.invalidate(key)  // …a change for the key is announced meanwhile…
        cache.insertText("stale", for: key, expiresAt: nil, epoch: epoch)  // …the old answer must not stay.
        #expect(cache.text(for: key, minValidSeconds: 0, now: now) == nil)
    }

    @Test func staysWithinCapacityAndZeroDisables() {
        let cache = listeningCache(capacity: 3)
        for i in 0..<10 { cache.insertText("v\(i)", for: .init(userID: "u_\(i)", provider: "p"), expiresAt: nil, epoch: cache.epoch) }
        #expect(cache.count == 3)
        let off = ResolveCache(capacity: 0)
        off.setListening(true)
        off.insertText("a", for: key, expiresAt: nil, epoch: off.epoch)
        #expect(off.text(for: key, minValidSeconds: 0, now: now) == nil)
    }

    /// Evictions, replacements and invalidations in any order: the cache stays at capacity and every key it
    /// still holds answers with its own value (the bookkeeping behind constant-time eviction moves keys around).
    @Test func evictionKeepsEveryRemainingAnswerItsOwn() {
        let capacity = 50
        let cache = listeningCache(capacity: capacity)
        var generator = SystemRandomNumberGenerator()
        var latest: [Int: Int] = [:]  // user → the version last written, while it may still be cached
        for step in 0..<20_000 {
            let user = Int.random(in: 0..<400, using: &generator)
            let key = ResolveCache.Key(userID: "u_\(user)", provider: "p")
            if step.isMultiple(of: 7) {
                cache.invalidate(key)
                latest[user] = nil
            } else {
                cache.insertText("\(user)/\(step)", for: key, expiresAt: nil, epoch: cache.epoch)
                latest[user] = step
                #expect(cache.text(for: key, minValidSeconds: 0, now: now) == "\(user)/\(step)")
            }
            #expect(cache.count <= capacity)
        }
        var held = 0
        for user in 0..<400 {
            guard let text = cache.text(for: .init(userID: "u_\(user)", provider: "p"), minValidSeconds: 0, now: now) else { continue }
            held += 1
            #expect(text == "\(user)/\(latest[user] ?? -1)")
        }
        #expect(held == cache.count)
        #expect(held >= capacity - 1)  // full, unless the last step invalidated a cached key
    }

    /// Thousands of keys through a table that grows and loses entries in every order: after each step the key
    /// just touched answers as a plain dictionary would, and at the end every key does.
    @Test func agreesWithADictionaryThroughGrowthAndRemoval() {
        let capacity = 3_000
        let cache = listeningCache(capacity: capacity)
        var generator = SystemRandomNumberGenerator()
        var model: [ResolveCache.Key: String] = [:]
        for step in 0..<60_000 {
            let key = ResolveCache.Key(userID: "user-\(Int.random(in: 0..<5_000, using: &generator))", provider: step % 3 == 0 ? "gmail" : "stripe")
            switch Int.random(in: 0..<10, using: &generator) {
            case 0..<3:
                cache.invalidate(key)
                model[key] = nil
                #expect(cache.text(for: key, minValidSeconds: 0, now: now) == nil)
            default:
                cache.insertText("\(step)", for: key, expiresAt: nil, epoch: cache.epoch)
                model[key] = "\(step)"
                #expect(cache.text(for: key, minValidSeconds: 0, now: now) == "\(step)")
            }
            #expect(cache.count <= capacity)
        }
        var held = 0
        for (key, value) in model {
            guard let text = cache.text(for: key, minValidSeconds: 0, now: now) else { continue }  // evicted
            held += 1
            #expect(text == value)
        }
        #expect(held == cache.count)
    }

    /// Keys are compared byte for byte with a separator between provider and user id that UTF-8 never holds,
    /// so keys that only split the same characters differently, or differ in case or normalisation, stay apart.
    @Test func keysThatLookAlikeStayApart() {
        let cache = listeningCache()
        let keys = [
            ResolveCache.Key(userID: "bc", provider: "a"), ResolveCache.Key(userID: "c", provider: "ab"),
            ResolveCache.Key(userID: "abc", provider: ""), ResolveCache.Key(userID: "", provider: "abc"),
            ResolveCache.Key(userID: "C", provider: "ab"), ResolveCache.Key(userID: "caf\u{E9}", provider: "p"),
            ResolveCache.Key(userID: "cafe\u{301}", provider: "p"),
        ]
        for (index, key) in keys.enumerated() { cache.insertText("\(index)", for: key, expiresAt: nil, epoch: cache.epoch) }
        for (index, key) in keys.enumerated() { #expect(cache.text(for: key, minValidSeconds: 0, now: now) == "\(index)") }
    }

    @Test func replacedAndInvalidatedAnswersGiveTheirSpaceBack() {
        let cache = listeningCache(capacity: 100_000)
        let answer = { (i: Int, round: Int) in "{\"round\":\(round),\"user\":\(i),\"pad\":\"\(String(repeating: "x", count: 200))\"}" }
        for round in 0..<48 {
            for i in 0..<1_000 { cache.insertText(answer(i, round), for: .init(userID: "u_\(i)", provider: "p"), expiresAt: nil, epoch: cache.epoch) }
        }
        // 48 rounds of 1,000 answers of about 230 bytes: about 11 MB written (11 chunks if nothing came back),
        // about 230 kB alive at the end.
        #expect(cache.count == 1_000)
        #expect(cache.heldBytes <= 4 * ResolveCache.chunkSize, "\(cache.heldBytes) bytes held")
        for i in stride(from: 0, to: 1_000, by: 97) {
            #expect(cache.text(for: .init(userID: "u_\(i)", provider: "p"), minValidSeconds: 0, now: now) == answer(i, 47))
        }
        for i in 0..<1_000 { cache.invalidate(.init(userID: "u_\(i)", provider: "p")) }
        #expect(cache.count == 0)
        #expect(cache.heldBytes == 0)
    }

    @Test func anAnswerLargerThanAChunkIsKept() {
        let cache = listeningCache()
        let large = String(repeating: "y", count: ResolveCache.chunkSize + 10)
        cache.insertText("small", for: .init(userID: "u_1", provider: "p"), expiresAt: nil, epoch: cache.epoch)
        cache.insertText(large, for: key, expiresAt: nil, epoch: cache.epoch)
        cache.insertText("after", for: .init(userID: "u_2", provider: "p"), expiresAt: nil, epoch: cache.epoch)
        #expect(cache.text(for: key, minValidSeconds: 0, now: now) == large)
        #expect(cache.text(for: .init(userID: "u_1", provider: "p"), minValidSeconds: 0, now: now) == "small")
        #expect(cache.text(for: .init(userID: "u_2", provider: "p"), minValidSeconds: 0, now: now) == "after")
    }

    @Test func keysCompareByBytesNotByCanonicalEquivalence() {
        let precomposed = ResolveCache.Key(userID: "jos\u{E9}", provider: "stripe")
        let decomposed = ResolveCache.Key(userID: "jose\u{301}", provider: "stripe")
        #expect(precomposed != decomposed)
        #expect(Set([precomposed, decomposed]).count == 2)
        #expect(precomposed == ResolveCache.Key(userID: "jos\u{E9}", provider: "stripe"))
        // The cache itself keeps them apart too.
        let cache = ResolveCache(capacity: 10)
        cache.setListening(true)
        cache.insert(Array("one".utf8), for: precomposed, expiresAt: nil, epoch: cache.epoch)
        #expect(cache.value(for: decomposed, minValidSeconds: 0, now: Date()) == nil)
        #expect(cache.value(for: precomposed, minValidSeconds: 0, now: Date()) == Array("one".utf8))
    }
}

extension ResolveCache {
    func insertText(_ text: String, for key: Key, expiresAt: Date?, epoch: UInt64) {
        insert(Array(text.utf8), for: key, expiresAt: expiresAt, epoch: epoch)
    }

    func text(for key: Key, minValidSeconds: Int, now: Date) -> String? {
        value(for: key, minValidSeconds: minValidSeconds, now: now).map { String(decoding: $0, as: UTF8.self) }
    }
}

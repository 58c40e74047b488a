import Connectors
import Foundation
import Testing

@Suite struct ResolveCacheTests {
    let key = ResolveCache<String>.Key(userID: "u_1", provider: "gmail")
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func listeningCache(capacity: Int = 10) -> ResolveCache<String> {
        let cache = ResolveCache<String>(capacity: capacity)
        cache.setListening(true)
        return cache
    }

    @Test func servesOnlyWhileListening() {
        let cache = ResolveCache<String>(capacity: 10)
        cache.insert("a", for: key, expiresAt: nil, epoch: cache.epoch)
        #expect(cache.value(for: key, minValidSeconds: 0, now: now) == nil)
        cache.setListening(true)
        cache.insert("a", for: key, expiresAt: nil, epoch: cache.epoch)
        #expect(cache.value(for: key, minValidSeconds: 0, now: now) == "a")
        cache.setListening(false)
        #expect(cache.value(for: key, minValidSeconds: 0, now: now) == nil)
        #expect(cache.count == 0)
    }

    @Test func neverServesATokenInsideTheCallersMargin() {
        let cache = listeningCache()
        cache.insert("a", for: key, expiresAt: now.addingTimeInterval(100), epoch: cache.epoch)
        #expect(cache.value(for: key, minValidSeconds: 60, now: now) == "a")
        #expect(cache.value(for: key, minValidSeconds: 101, now: now) == nil)
        #expect(cache.value(for: key, minValidSeconds: 0, now: now.addingTimeInterval(100)) == "a")
        #expect(cache.value(for: key, minValidSeconds: 0, now: now.addingTimeInterval(101)) == nil)
    }

    @Test func aChangeDuringTheReadKeepsTheStaleAnswerOut() {
        let cache = listeningCache()
        let epoch = cache.epoch  // a resolve starts reading the database…
        cache.invalidate(key)  // …a change for the key is announced meanwhile…
        cache.insert("stale", for: key, expiresAt: nil, epoch: epoch)  // …the old answer must not stay.
        #expect(cache.value(for: key, minValidSeconds: 0, now: now) == nil)
    }

    @Test func staysWithinCapacityAndZeroDisables() {
        let cache = listeningCache(capacity: 3)
        for i in 0..<10 { cache.insert("v\(i)", for: .init(userID: "u_\(i)", provider: "p"), expiresAt: nil, epoch: cache.epoch) }
        #expect(cache.count == 3)
        let off = ResolveCache<String>(capacity: 0)
        off.setListening(true)
        off.insert("a", for: key, expiresAt: nil, epoch: off.epoch)
        #expect(off.value(for: key, minValidSeconds: 0, now: now) == nil)
    }
}

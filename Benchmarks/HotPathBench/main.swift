// The resolve hot path's hand-written pieces against what a library would do in their place, single thread:
//
// - reading a resolve request: FlatJSON (in place) against JSONDecoder (a Decodable struct, one shared decoder);
// - writing an answer's body: ResolveAnswer from its stored form against JSONEncoder (an Encodable struct);
// - the answer cache: ResolveCache (keys and values in chunks, an open-addressing table of 24-byte entries)
//   against a Dictionary from key to value under a Mutex, both holding the same stored answers: resident memory
//   per entry after filling, and the time of a lookup.
//
// usage: HotPathBench [ITERATIONS [ENTRIES]]   prints one "name value" line per figure.
import Connectors
import Foundation
import NIOCore
import Synchronization

@main
struct HotPathBench {
    static func main() throws {
        let arguments = CommandLine.arguments
        let iterations = arguments.count > 1 ? Int(arguments[1]) ?? 1_000_000 : 1_000_000
        let entries = arguments.count > 2 ? Int(arguments[2]) ?? 100_000 : 100_000
        var figures: [(String, Double)] = []

        // Filled first, while the heap is fresh, so that one structure's freed memory does not flatter the other.
        let cache = CacheFigures(entries: entries)
        figures += cache.figures(lookups: iterations)
        figures += parseFigures(iterations)
        figures += answerFigures(iterations)
        for (name, value) in figures { print(name, value) }
    }

    // MARK: Reading the request

    struct Request: Decodable {
        var provider: String
        var userID: String
        var minValidSeconds: Int?
        enum CodingKeys: String, CodingKey {
            case provider, userID = "user_id", minValidSeconds = "min_valid_seconds"
        }
    }

    static func parseFigures(_ iterations: Int) -> [(String, Double)] {
        let body = Array(#"{"provider": "stripe", "user_id": "user_0000012345@example", "min_valid_seconds": 120}"#.utf8)
        var sink = 0
        let flat = nanoseconds(iterations) {
            var provider: String?
            var userID: String?
            var seconds: Int?
            let read = body.withUnsafeBytes { bytes in
                FlatJSON.parse(bytes) { key, value in
                    switch value {
                    case .string(let text) where key.elementsEqual("provider".utf8): provider = text
                    case .string(let text) where key.elementsEqual("user_id".utf8): userID = text
                    case .integer(let number) where key.elementsEqual("min_valid_seconds".utf8): seconds = number
                    default: return false
                    }
                    return true
                }
            }
            if read { sink &+= (provider?.utf8.count ?? 0) + (userID?.utf8.count ?? 0) + (seconds ?? 0) }
        }
        let decoder = JSONDecoder()
        let decoded = nanoseconds(iterations) {
            if let request = try? decoder.decode(Request.self, from: Data(body)) {
                sink &+= request.provider.utf8.count + request.userID.utf8.count + (request.minValidSeconds ?? 0)
            }
        }
        precondition(sink > 0)
        return [("parse_flatjson_ns", flat), ("parse_jsondecoder_ns", decoded)]
    }

    // MARK: Writing the answer

    struct Answer: Encodable {
        var connectorID: String
        var provider: String
        var userID: String
        var type: String
        var accessToken: String
        var tokenType: String
        var expiresAt: String?
        var scopes: [String]
        var metadata: [String: String]
        enum CodingKeys: String, CodingKey {
            case connectorID = "connector_id", provider, userID = "user_id", type, accessToken = "access_token"
            case tokenType = "token_type", expiresAt = "expires_at", scopes, metadata
        }
    }

    static func answerFigures(_ iterations: Int) -> [(String, Double)] {
        let key = ResolveCache.Key(userID: "user_0000012345@example", provider: "gmail")
        let answer = Answer(
            connectorID: "ct_7rppq622ugqxlucibacc5ac3p6", provider: key.provider, userID: key.userID, type: "oauth",
            accessToken: "ya29." + String(repeating: "a1B2c3D4", count: 20), tokenType: "Bearer", expiresAt: "2026-12-06T12:00:00Z",
            scopes: ["https://www.googleapis.com/auth/gmail.readonly"], metadata: ["email": "someone@example.com"])
        let stored = ResolveAnswer.encode(
            connectorID: answer.connectorID, provider: answer.provider, userID: answer.userID, type: answer.type,
            accessToken: answer.accessToken, tokenType: answer.tokenType, expiresAt: Date(timeIntervalSince1970: 1_796_558_400),
            scopes: answer.scopes, metadataJSON: #"{"email":"someone@example.com"}"#, for: key)
        var sink = 0
        var bodyBytes = 0
        let written = stored.withUnsafeBytes { stored in
            nanoseconds(iterations) {
                let body = ResolveAnswer.body(stored, provider: key.provider, userID: key.userID)
                bodyBytes = body.readableBytes
                sink &+= body.readableBytes
            }
        }
        let encoder = JSONEncoder()
        let encoded = nanoseconds(iterations) {
            if let data = try? encoder.encode(answer) { sink &+= data.count }
        }
        precondition(sink > 0)
        return [
            ("answer_body_ns", written), ("answer_jsonencoder_ns", encoded), ("answer_stored_bytes", Double(stored.count)),
            ("answer_body_bytes", Double(bodyBytes)),
        ]
    }

    // MARK: The cache

    /// One stored answer per user, filled into both structures up front.
    final class CacheFigures {
        let keys: [ResolveCache.Key]
        let cache: ResolveCache
        let dictionary: Mutex<[ResolveCache.Key: (expiresAt: Int64, value: [UInt8])]>
        let cacheBytes: Int
        let dictionaryBytes: Int

        init(entries: Int) {
            keys = (0..<entries).map { ResolveCache.Key(userID: "user_\(String(format: "%010d", $0))@example", provider: "stripe") }
            let values = keys.map { key in
                ResolveAnswer.encode(
                    connectorID: "ct_" + String(format: "%026d", key.userID.hashValue & 0xFFFF_FFFF), provider: key.provider, userID: key.userID,
                    type: "api_key", accessToken: "sk_live_" + String(repeating: "x", count: 24), tokenType: "Bearer", expiresAt: nil,
                    scopes: [], metadataJSON: "{}", for: key)
            }
            var before = residentBytes()
            cache = ResolveCache(capacity: entries)
            cache.setListening(true)
            for (key, value) in zip(keys, values) { cache.insert(value, for: key, expiresAt: nil, epoch: cache.epoch) }
            cacheBytes = residentBytes() - before
            before = residentBytes()
            // Keys and values copied, as the cache copies them: the dictionary must not share the arrays' storage.
            var table: [ResolveCache.Key: (expiresAt: Int64, value: [UInt8])] = [:]
            for (key, value) in zip(keys, values) {
                let owned = ResolveCache.Key(userID: String(decoding: Array(key.userID.utf8), as: UTF8.self), provider: key.provider)
                table[owned] = (Int64.max, value.map { $0 })
            }
            dictionary = Mutex(table)
            dictionaryBytes = residentBytes() - before
        }

        func figures(lookups: Int) -> [(String, Double)] {
            var sink = 0
            var state: UInt64 = 0x9E37_79B9_7F4A_7C15
            let now = Date()
            let cached = nanoseconds(lookups) {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let key = keys[Int(state >> 33) % keys.count]
                sink &+= cache.withValue(for: key, minValidSeconds: 60, now: now) { $0.count } ?? 0
            }
            let looked = nanoseconds(lookups) {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let key = keys[Int(state >> 33) % keys.count]
                sink &+= dictionary.withLock { $0[key]?.value.count } ?? 0
            }
            precondition(sink > 0)
            return [
                ("cache_lookup_ns", cached), ("dictionary_lookup_ns", looked),
                ("cache_bytes_per_entry", Double(cacheBytes) / Double(keys.count)),
                ("dictionary_bytes_per_entry", Double(dictionaryBytes) / Double(keys.count)),
            ]
        }
    }
}

/// The best of three rounds of `iterations` calls of `body`, in nanoseconds per call.
func nanoseconds(_ iterations: Int, _ body: () -> Void) -> Double {
    var best = Double.infinity
    for _ in 0..<3 {
        let elapsed = ContinuousClock().measure { for _ in 0..<iterations { body() } }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        best = min(best, seconds * 1e9 / Double(iterations))
    }
    return best
}

/// The process's resident memory, from /proc/self/statm.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * 4096 : 0
}

// Seals and opens 256-byte values with 60-byte associated data through the public Crypto API, single thread.
//
// usage: CryptoBench MESSAGES ROUNDS [PHASE...]   prints "name ops_per_s" lines (best round of each); PHASE limits
// the run to some of: seal open keyring_seal keyring_open (handy under `perf stat`).
import ResolverCrypto

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

@main
struct CryptoBench {
    static func main() throws {
        let arguments = CommandLine.arguments
        let messages = arguments.count > 1 ? Int(arguments[1]) ?? 1_000_000 : 1_000_000
        let rounds = arguments.count > 2 ? Int(arguments[2]) ?? 3 : 3
        let only = Set(arguments.dropFirst(3))
        func wanted(_ phase: String) -> Bool { only.isEmpty || only.contains(phase) }

        let key = SymmetricKey(size: .bits256)
        let message = try SecureRandom.bytes(count: 256)
        let aad = [UInt8](repeating: UInt8(ascii: "a"), count: 60)
        let openSet = try (0..<1024).map { _ in try AES.GCM.seal(message, using: key, authenticating: aad) }

        let keyDirectory = try makeKeyDirectory()
        let keyring = try Keyring(directory: keyDirectory)
        // The keyring holds its keys in memory now; the throwaway key file goes at once.
        unlink(keyDirectory + "/k1")
        rmdir(keyDirectory)
        let valueSet = try (0..<1024).map { _ in try keyring.seal(message, authenticating: aad) }

        var results: [(String, Double)] = []
        var sink = 0
        if wanted("seal") {
            let rate = try best(rounds, messages) {
                let box = try AES.GCM.seal(message, using: key, authenticating: aad)
                sink &+= Int(box.combined[12])
            }
            results.append(("seal_ops_per_s", rate))
        }
        // Opens take each prepared value out of its slot and put it back (`move`/`initialize`), so the caller owns
        // the value it opens, as when it opens a row just read; an array subscript would add a retain and release
        // per call, a cost of the harness reusing a prepared set, which the C loop (plain pointers) does not pay.
        if wanted("open") {
            var boxes = openSet
            let rate = try boxes.withUnsafeMutableBufferPointer { slots in
                try best(rounds, messages) { i in
                    let slot = slots.baseAddress! + (i & 1023)
                    let box = slot.move()
                    defer { slot.initialize(to: box) }
                    let plaintext = try AES.GCM.open(box, using: key, authenticating: aad)
                    sink &+= Int(plaintext[0])
                }
            }
            results.append(("open_ops_per_s", rate))
        }
        if wanted("keyring_seal") {
            let rate = try best(rounds, messages) {
                let value = try keyring.seal(message, authenticating: aad)
                sink &+= Int(value[4])
            }
            results.append(("keyring_seal_ops_per_s", rate))
        }
        if wanted("keyring_open") {
            var values = valueSet
            let rate = try values.withUnsafeMutableBufferPointer { slots in
                try best(rounds, messages) { i in
                    let slot = slots.baseAddress! + (i & 1023)
                    let value = slot.move()
                    defer { slot.initialize(to: value) }
                    let plaintext = try keyring.open(value, authenticating: aad)
                    sink &+= Int(plaintext[0])
                }
            }
            results.append(("keyring_open_ops_per_s", rate))
        }
        for (name, rate) in results { print("\(name) \(Int(rate))") }
        if sink == 42 { print("") }  // keeps the results observable
    }

    static func best(_ rounds: Int, _ messages: Int, _ body: () throws -> Void) throws -> Double {
        try best(rounds, messages) { (_: Int) in try body() }
    }

    static func best(_ rounds: Int, _ messages: Int, _ body: (Int) throws -> Void) throws -> Double {
        var best = 0.0
        for _ in 0..<rounds {
            let start = seconds()
            for i in 0..<messages { try body(i) }
            best = max(best, Double(messages) / (seconds() - start))
        }
        return best
    }

    static func seconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    static func makeKeyDirectory() throws -> String {
        var template = Array("/tmp/resolverd-cryptobench-XXXXXX".utf8CString)
        guard let path = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            fatalError("mkdtemp failed")
        }
        let directory = String(cString: path)
        try Keyring.generateKeyFile(at: directory + "/k1")
        return directory
    }
}

import Synchronization

/// Every secret the tests hand to a daemon (services tokens, API keys, client secrets, the tokens and codes the
/// fake providers issue) and every line a daemon logs in the test run, wherever it runs: an in-process log
/// handler or a `resolverd` process's log file. Each line is checked, as it arrives, against every secret given
/// so far. Secrets are registered when they are made, before any daemon sees them, so every line a daemon
/// could have written a secret into is checked against it; ``leaks`` says what was found, never the secret.
public final class TestSecrets: Sendable {
    public static let shared = TestSecrets()

    public init() {}

    /// Secrets shorter than this are not tracked: too short to find without false alarms, and none is made.
    public static let minimumLength = 12

    private struct State {
        /// Secrets by their last eight bytes, packed: the scan looks each window of a line up here.
        var bySuffix: [UInt64: [[UInt8]]] = [:]
        var count = 0
        var leaks: [String] = []
        var linesChecked = 0
    }

    private let state = Mutex(State())

    /// Remembers a secret handed to a daemon.
    public func given(_ secret: String) {
        let bytes = Array(secret.utf8)
        guard bytes.count >= Self.minimumLength else { return }
        let suffix = Self.pack(bytes[(bytes.count - 8)...])
        state.withLock { state in
            if state.bySuffix[suffix]?.contains(bytes) == true { return }
            state.bySuffix[suffix, default: []].append(bytes)
            state.count += 1
        }
    }

    /// Checks one logged line (or a whole log) against every secret given so far.
    public func logged(_ text: some StringProtocol, source: String) {
        let bytes = Array(text.utf8)
        guard bytes.count >= 8 else { return }
        state.withLock { state in
            state.linesChecked += 1
            var window: UInt64 = 0
            for index in bytes.indices {
                window = window >> 8 | UInt64(bytes[index]) << 56
                guard index >= 7, let candidates = state.bySuffix[window] else { continue }
                for secret in candidates where secret.count <= index + 1 && bytes[(index + 1 - secret.count)...index].elementsEqual(secret) {
                    state.leaks.append("a secret of \(secret.count) characters appeared in what \(source) logged")
                }
            }
        }
    }

    /// What was found since the last call, described without the secrets.
    public func takeLeaks() -> [String] {
        state.withLock { state in
            defer { state.leaks.removeAll() }
            return state.leaks
        }
    }

    /// How many secrets are tracked and how many logs were checked.
    public var tally: (secrets: Int, logs: Int) { state.withLock { ($0.count, $0.linesChecked) } }

    /// Eight bytes as the scan packs them: the last byte in the highest position.
    private static func pack(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.reduce(0) { $0 >> 8 | UInt64($1) << 56 }
    }
}

import Synchronization

/// The services tokens in force, replaced whole when the file is re-read (SIGHUP).
final class ServicesTokenBox: Sendable {
    private let tokens: Mutex<ServicesTokens>
    let path: String?

    init(_ tokens: ServicesTokens, path: String?) {
        self.tokens = Mutex(tokens)
        self.path = path
    }

    var current: ServicesTokens { tokens.withLock { $0 } }

    /// Re-reads the file; on error the tokens in force stay.
    func reload() throws {
        guard let path else { return }
        let fresh = try ServicesTokens.load(path: path)
        tokens.withLock { $0 = fresh }
    }
}

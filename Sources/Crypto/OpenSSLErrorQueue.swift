import CLibCrypto

/// Reads and clears OpenSSL's per-thread error queue so failures do not leak into later calls.
enum OpenSSLErrorQueue {
    /// The oldest queued reason (library and reason text only, never data), then clears the queue.
    static func drain() -> String {
        let code = ERR_get_error()
        defer { ERR_clear_error() }
        guard code != 0 else { return "no OpenSSL reason" }
        var buffer = [CChar](repeating: 0, count: 256)
        let text = buffer.withUnsafeMutableBufferPointer { pointer -> String in
            ERR_error_string_n(code, pointer.baseAddress, pointer.count)
            return String(cString: pointer.baseAddress!)
        }
        return text
    }

    /// Discards queued errors after an expected failure (a bad tag, a bad signature).
    static func clear() { ERR_clear_error() }
}

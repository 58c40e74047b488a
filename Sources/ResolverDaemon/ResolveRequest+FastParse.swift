import Connectors

extension ResolveRequest {
    /// The request read by ``FlatJSON`` when it is the plain shape; nil sends the caller to `JSONDecoder`.
    static func fastParse(_ bytes: some Collection<UInt8>) -> ResolveRequest? {
        if let parsed = bytes.withContiguousStorageIfAvailable({ fastParse(UnsafeRawBufferPointer($0)) }) { return parsed }
        return Array(bytes).withUnsafeBytes { fastParse($0) }
    }

    private static func fastParse(_ bytes: UnsafeRawBufferPointer) -> ResolveRequest? {
        var provider: String?
        var userID: String?
        var minValidSeconds: Int?
        let read = FlatJSON.parse(bytes) { key, value in
            if key.elementsEqual("provider".utf8) {
                guard case .string(let text) = value else { return false }
                provider = text
            } else if key.elementsEqual("user_id".utf8) {
                guard case .string(let text) = value else { return false }
                userID = text
            } else if key.elementsEqual("min_valid_seconds".utf8) {
                guard case .integer(let seconds) = value else { return false }
                minValidSeconds = seconds
            }
            return true
        }
        guard read, let provider, let userID else { return nil }
        return ResolveRequest(provider: provider, userID: userID, minValidSeconds: minValidSeconds)
    }
}

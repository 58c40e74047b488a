public import ResolverCrypto

/// Encrypts secret columns with the keyring, each value bound to its table, row id and column, so a value
/// copied to another row or column does not open.
public struct CredentialCipher: Sendable {
    public enum Column: String, Sendable {
        case accessToken = "access_token"
        case refreshToken = "refresh_token"
        case codeVerifier = "code_verifier"
    }

    public let keyring: Keyring

    public init(keyring: Keyring) { self.keyring = keyring }

    static func associatedData(table: String, id: String, column: Column) -> [UInt8] {
        Array("resolverd/v1\u{0}\(table)\u{0}\(id)\u{0}\(column.rawValue)".utf8)
    }

    /// The ciphertext of `secret` for `table`.`column` of row `id`.
    public func seal(_ secret: String, table: String = "connector_tokens", id: String, column: Column) throws -> [UInt8] {
        try keyring.seal(Array(secret.utf8), authenticating: Self.associatedData(table: table, id: id, column: column))
    }

    /// The secret in `ciphertext`; throws ``ConnectorError/Code/corruptCredential`` when it does not open here.
    public func open(_ ciphertext: [UInt8], table: String = "connector_tokens", id: String, column: Column) throws -> String {
        do {
            let plaintext = try keyring.open(ciphertext, authenticating: Self.associatedData(table: table, id: id, column: column))
            return String(decoding: plaintext, as: UTF8.self)
        } catch let error as CryptoError {
            throw ConnectorError(.corruptCredential, message: "the stored \(column.rawValue) of \(id) does not decrypt (\(error.code))")
        }
    }
}

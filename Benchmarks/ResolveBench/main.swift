// Prepares the database for scripts/bench resolve: the schema and ROWS API-key connectors (users u_1…u_ROWS,
// provider stripe), each sealed with the key in KEYS_DIR exactly as resolverd stores them.
//
//   ResolveBench URL KEYS_DIR ROWS
import Connectors
import Foundation
import PGClient
import ResolverCrypto

let arguments = CommandLine.arguments
guard arguments.count == 4, let rows = Int(arguments[3]) else {
    FileHandle.standardError.write(Data("usage: ResolveBench URL KEYS_DIR ROWS\n".utf8))
    exit(2)
}
var configuration = PGPoolConfiguration(connection: try PGConnectionConfiguration(arguments[1]))
configuration.maxConnections = 2
let pool = PGConnectionPool(configuration: configuration)
let cipher = CredentialCipher(keyring: try Keyring(directory: arguments[2]))
try await ConnectorsSchema.migrator().migrate(on: pool)
_ = try await pool.query("TRUNCATE connector_tokens")
let batch = 2_000
for start in stride(from: 1, through: rows, by: batch) {
    let numbers = Array(start...min(start + batch - 1, rows))
    var ids: [String] = []
    var users: [String] = []
    var secrets: [String] = []
    for number in numbers {
        let id = try Identifiers.make(prefix: "ct_")
        ids.append(id)
        users.append("u_\(number)")
        let key = "sk_test_" + Hex.encode(try SecureRandom.bytes(count: 16))
        secrets.append(Hex.encode(try cipher.seal(key, id: id, column: .accessToken)))
    }
    _ = try await pool.query(
        """
        INSERT INTO connector_tokens (id, user_id, provider, type, access_token, metadata)
        SELECT id, user_id, 'stripe', 'api_key', decode(secret, 'hex'), '{"account_name": "Bench"}'
        FROM unnest(\(ids)::text[], \(users)::text[], \(secrets)::text[]) AS u(id, user_id, secret)
        """)
}
_ = try await pool.query("VACUUM ANALYZE connector_tokens")
await pool.shutdown()
print("stored \(rows) connectors")

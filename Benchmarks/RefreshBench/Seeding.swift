import Connectors
import Foundation
import PGClient
import ProviderFakes

/// Stores `count` connectors of users `u_1`…`u_count`, each holding a grant the fake just issued and due in an hour,
/// through the store as the OAuth callback writes them, `workers` at a time.
func seedConnectors(store: ConnectorStore, fake: FakeOAuthProvider, provider: String, count: Int, workers: Int) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<workers {
            group.addTask {
                for number in stride(from: worker + 1, through: count, by: workers) {
                    let issued = fake.issueTokens()
                    let credential = Credential(
                        type: .oauth, accessToken: issued.accessToken, refreshToken: issued.refreshToken,
                        expiresAt: Date().addingTimeInterval(TimeInterval(issued.expiresIn ?? 3600)))
                    try await store.put(
                        userID: "u_\(number)", provider: provider, credential: credential, nextRefreshAt: Date().addingTimeInterval(3600))
                }
            }
        }
        try await group.waitForAll()
    }
}

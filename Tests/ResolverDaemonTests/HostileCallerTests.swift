import Connectors
import Foundation
import HTTPTypes
import HummingbirdTesting
import PGTestSupport
import ProviderFakes
import Testing
@testable import ResolverDaemon

/// What a caller may set is checked against what the credential it holds allows: identity headers, workspaces,
/// scopes and other providers' connectors.
@Suite(.enabled(if: TestDatabase.isConfigured)) struct HostileCallerTests {
    @Test func duplicateIdentityHeadersAreRefused() async throws {
        try await ConnectorsHarness.with { harness in
            let key = try await harness.apiKey(for: "u_dup")
            try await harness.daemon.withAPI { client in
                var twoUsers = HTTPFields()
                twoUsers[ServicesTokenHeader.name] = harness.daemon.gatewayToken
                twoUsers.append(HTTPField(name: UserAuthenticator.userField, value: "u_dup"))
                twoUsers.append(HTTPField(name: UserAuthenticator.userField, value: "u_other"))
                let users = try await client.api(.get, "/api/connectors/list", bearer: nil, headers: twoUsers)
                #expect(users.status == .badRequest && users.errorCode == "invalid_request", "\(users.text)")

                var twoBearers = HTTPFields()
                twoBearers.append(HTTPField(name: .authorization, value: "Bearer \(key)"))
                twoBearers.append(HTTPField(name: .authorization, value: "Bearer \(key)"))
                let bearers = try await client.api(.get, "/api/connectors/list", bearer: nil, headers: twoBearers)
                #expect(bearers.status == .badRequest, "\(bearers.text)")

                var one = HTTPFields()
                one[ServicesTokenHeader.name] = harness.daemon.gatewayToken
                one[UserAuthenticator.userField] = "u_dup"
                #expect(try await client.api(.get, "/api/connectors/list", bearer: nil, headers: one).status == .ok)
            }
        }
    }

    @Test func theWorkspaceComesFromTheCredentialUnlessAServiceNamesIt() async throws {
        try await ConnectorsHarness.with { harness in
            let key = try await harness.apiKey(for: "u_ws", workspace: "w_own")
            try await harness.daemon.withAPI { client in
                let other = try await client.api(
                    .post, "/api/connectors/connect", bearer: key,
                    json: #"{"provider": "stripe", "api_key": "\#(harness.goodKey)", "workspace_id": "w_other"}"#)
                #expect(other.status == .forbidden, "\(other.text)")
                let authorize = try await client.api(.get, "/api/oauth/fake_oauth/authorize?workspace_id=w_other", bearer: key)
                #expect(authorize.status == .forbidden, "\(authorize.text)")

                let own = try await client.api(
                    .post, "/api/connectors/connect", bearer: key, json: #"{"provider": "stripe", "api_key": "\#(harness.goodKey)"}"#)
                #expect(own.status == .created, "\(own.text)")
                let stored = try #require(try await harness.daemon.runtime.store.find(userID: "u_ws", reference: "stripe"))
                #expect(stored.workspaceID == "w_own")

                // A services token acting for a user may name the workspace.
                var service = HTTPFields()
                service[ServicesTokenHeader.name] = harness.daemon.gatewayToken
                service[UserAuthenticator.userField] = "u_ws_service"
                let named = try await client.api(
                    .post, "/api/connectors/connect", bearer: nil,
                    json: #"{"provider": "stripe", "api_key": "\#(harness.goodKey)", "workspace_id": "w_team"}"#, headers: service)
                #expect(named.status == .created, "\(named.text)")
                #expect(try await harness.daemon.runtime.store.find(userID: "u_ws_service", reference: "stripe")?.workspaceID == "w_team")
            }
        }
    }

    @Test func scopesMayOnlyNarrowWhatTheOperatorConfigured() async throws {
        try await ConnectorsHarness.with { harness in
            let key = try await harness.apiKey(for: "u_scopes")
            try await harness.daemon.withAPI { client in
                let wider = try await client.api(.get, "/api/oauth/fake_oauth/authorize?scopes=openid%20admin", bearer: key)
                #expect(wider.status == .badRequest && wider.errorCode == "scope_not_allowed", "\(wider.text)")
                let narrower = try await client.api(.get, "/api/oauth/fake_oauth/authorize?scopes=openid", bearer: key)
                #expect(narrower.status == .ok, "\(narrower.text)")
                let authURL = try #require(narrower.object["auth_url"] as? String)
                #expect(ConnectorsHarness.query(of: authURL)["scope"] == "openid")
            }
        }
    }

    @Test func aProviderLimitedTokenCannotTakeAnotherProvidersPrimaryRole() async throws {
        try await ConnectorsHarness.with { harness in
            let store = harness.daemon.runtime.store
            let other = try await store.put(
                userID: "u_role", provider: "fake_oauth", credential: Credential(type: .oauth, accessToken: "at"), role: .primaryDataSource)
            let stripe = try await store.put(
                userID: "u_role", provider: "stripe", credential: Credential(type: .apiKey, accessToken: harness.goodKey))
            try await harness.daemon.withAPI { client in
                var limited = HTTPFields()
                limited[ServicesTokenHeader.name] = harness.daemon.limitedToken
                limited[UserAuthenticator.userField] = "u_role"
                let taken = try await client.api(
                    .patch, "/api/connectors/\(stripe.id)", bearer: nil, json: #"{"role": "primary_data_source"}"#, headers: limited)
                #expect(taken.status == .forbidden, "\(taken.text)")
                #expect(try await store.find(userID: "u_role", reference: other.id)?.role == .primaryDataSource)
                // A user's own credential may move the role.
                let key = try await harness.apiKey(for: "u_role")
                let moved = try await client.api(.patch, "/api/connectors/\(stripe.id)", bearer: key, json: #"{"role": "primary_data_source"}"#)
                #expect(moved.status == .ok, "\(moved.text)")
                #expect(try await store.find(userID: "u_role", reference: other.id)?.role == nil)
            }
        }
    }
}

/// Secret files the operator names are refused when others may read them, like key files.
@Suite struct SecretFilePermissionTests {
    @Test func secretFilesReadableByOthersAreRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("resolverd-secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let tokens = directory.appendingPathComponent("tokens").path
        try writeSecretFile("gateway \(try DaemonHarness.servicesToken())\n", to: tokens)
        #expect(try ServicesTokens.load(path: tokens).entries.count == 1)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: tokens)
        #expect(throws: SettingsError.self) { try ServicesTokens.load(path: tokens) }

        let secret = directory.appendingPathComponent("client-secret").path
        try writeSecretFile(try DaemonHarness.secret(bytes: 16), to: secret)
        let config = directory.appendingPathComponent("resolverd.json").path
        try Data(#"{"providers": {"github": {"client_id": "cid", "client_secret_file": "\#(secret)"}}}"#.utf8).write(to: URL(fileURLWithPath: config))
        let listen = ListenAddress(host: "127.0.0.1", port: 0)
        #expect(try ConnectorsSettings(file: try ConfigFile.load(path: config), listen: listen).registrations.clients["github"] != nil)
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: secret)
        do {
            _ = try ConnectorsSettings(file: try ConfigFile.load(path: config), listen: listen)
            Issue.record("a client secret readable by its group was accepted")
        } catch let error as SettingsError {
            #expect(error.reason.contains("chmod 600"))
        }
    }
}

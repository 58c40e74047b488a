import Testing
@testable import Connectors

/// Providers spell failures differently (PROVIDERS.md); resolverd reads each by its body, not only its status.
@Suite struct ProviderFailureTests {
    func classify(_ status: Int, _ body: String, _ style: ProviderDefinition.ErrorStyle, extra: Set<String> = []) throws -> ProviderFailure? {
        ProviderClient.classify(
            status: status, json: try JSONValue.parse(Array(body.utf8)), style: style, extraPermanent: extra, retryAfter: .seconds(7))
    }

    func isPermanent(_ failure: ProviderFailure?) -> Bool {
        if case .rejected(_, true, _)? = failure { return true }
        return false
    }

    @Test func rfcErrorsOnClientErrorsArePermanent() throws {
        #expect(isPermanent(try classify(400, #"{"error": "invalid_grant"}"#, .oauth)))
        #expect(!isPermanent(try classify(401, #"{"error": "invalid_client"}"#, .oauth)))
        #expect(!isPermanent(try classify(400, #"{"error": "invalid_request"}"#, .oauth)))
        #expect(try classify(200, #"{"access_token": "x"}"#, .oauth) == nil)
    }

    /// The operator's client registration refused is a fault of the configuration, for every connector of the
    /// provider: not a reason to ask each user to connect again.
    @Test func clientConfigurationErrorsAreTheOperatorsNotTheUsers() throws {
        for (status, code) in [
            (401, "invalid_client"), (400, "unauthorized_client"), (400, "unsupported_grant_type"), (200, "incorrect_client_credentials"),
        ] {
            guard
                case .misconfigured(let seen, status)? = try classify(
                    status, #"{"error": "\#(code)"}"#, .oauth, extra: ["incorrect_client_credentials"])
            else {
                Issue.record("\(code) is not a configuration fault")
                continue
            }
            #expect(seen == code)
        }
    }

    @Test func githubSaysItWithTwoHundred() throws {
        #expect(isPermanent(try classify(200, #"{"error": "bad_refresh_token"}"#, .github, extra: ["bad_refresh_token"])))
    }

    @Test func tiktokAndMetaUseCodes() throws {
        #expect(isPermanent(try classify(200, #"{"code": 40105, "message": "x"}"#, .tiktok, extra: ["40105"])))
        #expect(try classify(200, #"{"code": 0, "data": {"access_token": "x"}}"#, .tiktok) == nil)
        #expect(isPermanent(try classify(400, #"{"error": {"code": 190, "error_subcode": 463}}"#, .meta, extra: ["190"])))
        #expect(isPermanent(try classify(400, #"{"error": true, "status": 400, "message": "bad"}"#, .figma)))
    }

    @Test func throttlingAndServerErrorsAreTransient() throws {
        guard case .unavailable(_, let retryAfter)? = try classify(429, "{}", .oauth) else {
            Issue.record("429 is not transient")
            return
        }
        #expect(retryAfter == .seconds(7))
        guard case .unavailable? = try classify(503, #"{"error": "invalid_grant"}"#, .oauth) else {
            Issue.record("503 is not transient")
            return
        }
    }
}

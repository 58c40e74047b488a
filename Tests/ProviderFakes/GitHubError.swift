import Hummingbird

/// An error answer in GitHub's REST shape: `{"message": …, "documentation_url": …}`.
struct GitHubError: Error, HTTPResponseError {
    var status: HTTPResponse.Status
    var message: String

    /// What GitHub answers for a missing, malformed, unverifiable or expired app JWT.
    static let undecodableJWT = GitHubError(status: .unauthorized, message: "A JSON web token could not be decoded")
    /// What GitHub answers for an installation that does not exist (or that the app cannot see).
    static let notFound = GitHubError(status: .notFound, message: "Not Found")

    func response(from request: Request, context: some RequestContext) throws -> Response {
        try JSONResponse.make(status, Body(message: message, documentationURL: "https://docs.github.com/rest"))
    }

    private struct Body: Encodable {
        var message: String
        var documentationURL: String

        enum CodingKeys: String, CodingKey {
            case message
            case documentationURL = "documentation_url"
        }
    }
}

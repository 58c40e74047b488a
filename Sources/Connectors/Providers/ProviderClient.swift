public import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
public import ResolverCrypto

/// The operator's registration at a provider: the client id and secret from the configuration.
public struct OAuthClient: Sendable {
    public var clientID: String
    public var clientSecret: String?

    public init(clientID: String, clientSecret: String?) {
        self.clientID = clientID
        self.clientSecret = clientSecret
    }
}

/// A GitHub App's identity for installation tokens: its id and private key (from the configuration's files).
public struct GitHubApp: Sendable {
    public var appID: String
    public var signer: JWTSigner

    public init(appID: String, privateKeyPEM: String) throws {
        self.appID = appID
        self.signer = JWTSigner(key: try RSASigner(privateKeyPEM: privateKeyPEM))
    }
}

/// Tokens as a provider's token endpoint answered them.
public struct TokenResponse: Sendable {
    public var accessToken: String
    public var refreshToken: String?
    /// Seconds, within 0 ... ``maximumLifetime``.
    public var expiresIn: Int?
    public var scopes: [String]?
    /// The whole answer's other facts (Salesforce's `instance_url`, TikTok's advertiser ids), never a token.
    public var facts: [String: String]

    /// The longest lifetime taken from a provider (ten years): a larger `expires_in` is clamped to it, since
    /// neither the refresh timing nor PostgreSQL's timestamps can hold any number a provider may send.
    public static let maximumLifetime = 10 * 365 * 86_400
    /// The longest token kept; a longer one is an answer resolverd cannot read.
    public static let tokenLimit = 16 * 1024

    /// A lifetime as a provider wrote it (a number, or digits in a string), clamped to 0 ... ``maximumLifetime``.
    static func lifetime(_ value: JSONValue?) -> Int? {
        guard let text = value?.text, let seconds = Double(text), seconds.isFinite else { return nil }
        return Int(min(max(seconds, 0), Double(maximumLifetime)))
    }

    /// True for text PostgreSQL and HTTP headers can hold as it is: no control characters (NUL above all).
    static func isPlain(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }
    }
}

/// What a provider said to a call, classified the way resolverd acts on it.
public enum ProviderFailure: Error, Sendable, CustomStringConvertible {
    /// The provider refused: `code` is its error (`invalid_grant`, `bad_refresh_token`, `190`…). `permanent` means
    /// only the user can fix it (connect again); otherwise the request itself was wrong.
    case rejected(code: String, permanent: Bool, status: Int)
    /// The provider could not answer: network, timeout, 5xx, 429 (with its `Retry-After`).
    case unavailable(reason: String, retryAfter: Duration?)
    /// An answer resolverd cannot read.
    case malformed(String)
    /// The provider refused the operator's client registration (`invalid_client`, `unauthorized_client`,
    /// `unsupported_grant_type`…): a configuration fault for every connector of the provider, not one for the
    /// user to fix.
    case misconfigured(code: String, status: Int)

    public var description: String {
        switch self {
        case .rejected(let code, let permanent, let status): "provider refused (\(status) \(code)\(permanent ? ", reconnect needed" : ""))"
        case .unavailable(let reason, _): "provider unavailable (\(reason))"
        case .malformed(let reason): "unreadable provider answer (\(reason))"
        case .misconfigured(let code, let status): "provider refused the client configuration (\(status) \(code))"
        }
    }
}

/// The outcome of a provider's cheap read.
public struct ProviderCheck: Sendable {
    public var latency: Duration
    public var accountName: String?
}

/// One request a ``ProviderClient`` sent: which call, for which provider, the host its URL was rendered for and
/// where it went (the same unless the operator moved the provider's origin). Never a query, a token or a secret.
public struct ProviderRequestRecord: Sendable, Equatable {
    public var call: ProviderCall
    public var provider: String
    /// The host of the URL as rendered from the catalog and checked against the provider's domains.
    public var renderedHost: String
    /// The rendered URL's path.
    public var path: String
    /// The origin the request was sent to.
    public var targetOrigin: String
}

/// Calls providers as the catalog describes them: code exchange, refresh, the cheap read, revocation. Every URL
/// comes from ``ProviderDefinition/url(for:values:)``. It never logs a token, a code or a secret; answers are read
/// up to 1 MiB.
public final class ProviderClient: Sendable {
    public let http: HTTPClient
    public let timeout: Duration
    /// Hears every request before it is sent (tests check the rendered host; an operator's debug log could too).
    let requestLog: (@Sendable (ProviderRequestRecord) -> Void)?
    static let bodyLimit = 1 << 20
    /// Open connections to one provider at most, above any per-provider concurrency an operator would configure.
    static let connectionsPerHost = 256
    /// RFC 6749's errors that mean the grant is gone for good (on 400, 401 or 403).
    static let permanentOAuthErrors: Set<String> = ["invalid_grant", "invalid_scope"]
    /// Errors about the operator's client registration, not about the user's grant (GitHub spells one its own way).
    static let configurationErrors: Set<String> = ["invalid_client", "unauthorized_client", "unsupported_grant_type", "incorrect_client_credentials"]

    /// One HTTP client for the process, never shut down (like `HTTPClient.shared`), but never following redirects:
    /// a provider's endpoint that redirects is answered as it is, and no credential goes to another host.
    private static let processClient: HTTPClient = {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(30)))
        configuration.connectionPool.idleTimeout = .seconds(30)
        // The scheduler bounds the calls to one provider (per-provider concurrency); the client's own default of
        // eight connections per host would queue refreshes behind one another below that bound.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = ProviderClient.connectionsPerHost
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    public init(timeout: Duration = .seconds(15), requestLog: (@Sendable (ProviderRequestRecord) -> Void)? = nil) {
        http = Self.processClient
        self.timeout = timeout
        self.requestLog = requestLog
    }

    /// The request for `call`, at the URL rendered and checked for this connector, and logged.
    private func request(_ call: ProviderCall, provider: ProviderDefinition, values: TemplateValues) throws -> HTTPClientRequest {
        let url = try provider.url(for: call, values: values)
        if let requestLog {
            let components = URLComponents(string: url.target)
            let origin = "\(components?.scheme ?? "")://\(components?.host ?? "")" + (components?.port.map { ":\($0)" } ?? "")
            requestLog(
                ProviderRequestRecord(
                    call: call, provider: provider.slug, renderedHost: url.host, path: URLComponents(string: url.rendered)?.path ?? "",
                    targetOrigin: origin))
        }
        return HTTPClientRequest(url: url.target)
    }

    // MARK: Token endpoint

    /// Exchanges an authorization code (with its PKCE verifier) for tokens.
    public func exchangeCode(
        provider: ProviderDefinition, client: OAuthClient, code: String, redirectURI: String, codeVerifier: String?, values: TemplateValues
    ) async throws -> TokenResponse {
        guard let oauth = provider.oauth else { throw ProviderFailure.malformed("\(provider.slug) is not an OAuth provider") }
        var parameters = oauth.tokenParams ?? [:]
        parameters["grant_type"] = "authorization_code"
        parameters[oauth.codeParam ?? "code"] = code
        parameters["redirect_uri"] = redirectURI
        if let codeVerifier { parameters["code_verifier"] = codeVerifier }
        let request = try request(.exchange, provider: provider, values: values)
        return try await tokenRequest(request, oauth: oauth, client: client, parameters: parameters)
    }

    /// Renews tokens with a refresh token (or, for Meta, re-exchanges the long-lived access token).
    public func refresh(
        provider: ProviderDefinition, client: OAuthClient, refreshToken: String?, accessToken: String, values: TemplateValues
    ) async throws -> TokenResponse {
        guard let oauth = provider.oauth else { throw ProviderFailure.malformed("\(provider.slug) is not an OAuth provider") }
        var parameters: [String: String] = [:]
        switch oauth.grantType {
        case .metaLongLived:
            parameters["grant_type"] = "fb_exchange_token"
            parameters["fb_exchange_token"] = accessToken
        default:
            guard let refreshToken else { throw ProviderFailure.rejected(code: "no_refresh_token", permanent: true, status: 0) }
            parameters["grant_type"] = "refresh_token"
            parameters["refresh_token"] = refreshToken
        }
        let request = try request(.refresh, provider: provider, values: values)
        return try await tokenRequest(request, oauth: oauth, client: client, parameters: parameters)
    }

    /// A GitHub App installation token: the app's JWT (RS256, `iat` 60 s back, `exp` 9 minutes ahead, `iss` the app
    /// id) exchanged at `POST /app/installations/{id}/access_tokens`. The token lasts an hour and has no refresh token.
    public func installationToken(provider: ProviderDefinition, app: GitHubApp, values: TemplateValues) async throws -> TokenResponse {
        guard provider.oauth?.installationTokenURL != nil else {
            throw ProviderFailure.malformed("\(provider.slug) has no installation_token_url")
        }
        var request = try request(.installationToken, provider: provider, values: values)
        let now = Date()
        let jwt = try app.signer.sign(
            JWTRegisteredClaims(issuer: app.appID, issuedAt: now.addingTimeInterval(-60), expiresAt: now.addingTimeInterval(540)))
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(jwt)")
        request.headers.add(name: "Accept", value: "application/vnd.github+json")
        let (status, json, retryAfter) = try await send(request)
        if let failure = Self.classify(status: status, json: json, style: .oauth, extraPermanent: [], retryAfter: retryAfter) {
            // GitHub's secondary rate limit is a 403 too: it passes.
            if status == 403, retryAfter != nil || (json?.object?["message"]?.text ?? "").lowercased().contains("rate limit") {
                throw ProviderFailure.unavailable(reason: "HTTP 403 rate limited", retryAfter: retryAfter ?? .seconds(60))
            }
            // 401/404 here mean the installation or the app key is gone: only a new installation fixes it.
            if case .rejected(let code, _, let status) = failure, [401, 403, 404].contains(status) {
                throw ProviderFailure.rejected(code: code, permanent: true, status: status)
            }
            throw failure
        }
        guard let token = json?.object?["token"]?.text else { throw ProviderFailure.malformed("the installation answer has no token") }
        let expiresIn = json?.object?["expires_at"]?.text.flatMap { try? Date($0, strategy: .iso8601) }
            .flatMap { TokenResponse.lifetime(.number($0.timeIntervalSince(now))) }
        return TokenResponse(accessToken: token, refreshToken: nil, expiresIn: expiresIn ?? 3600, scopes: nil, facts: [:])
    }

    private func tokenRequest(
        _ request: HTTPClientRequest, oauth: ProviderDefinition.OAuth, client: OAuthClient, parameters: [String: String]
    ) async throws -> TokenResponse {
        var request = request
        let url = request.url
        var parameters = parameters
        var headers = HTTPHeaders([("Accept", "application/json")])
        let idName = oauth.clientIDParam ?? "client_id"
        let secretName = oauth.clientSecretParam ?? "client_secret"
        switch oauth.clientAuth {
        case .basic:
            let pair = "\(FormEncoding.encode(client.clientID)):\(FormEncoding.encode(client.clientSecret ?? ""))"
            headers.add(name: "Authorization", value: "Basic \(Data(pair.utf8).base64EncodedString())")
        case .post, .json, .query:
            parameters[idName] = client.clientID
            if let secret = client.clientSecret { parameters[secretName] = secret }
        }
        let sendsQuery = oauth.clientAuth == .query || oauth.tokenRequestMethod?.uppercased() == "GET"
        if sendsQuery {
            request.method = oauth.tokenRequestMethod?.uppercased() == "GET" ? .GET : .POST
            request.url = url + (url.contains("?") ? "&" : "?") + FormEncoding.encode(parameters)
        } else {
            request.method = .POST
            if oauth.tokenRequestFormat == .json || oauth.clientAuth == .json {
                headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(parameters)))
            } else {
                headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                request.body = .bytes(ByteBuffer(string: FormEncoding.encode(parameters)))
            }
        }
        request.headers = headers
        let (status, json, retryAfter) = try await send(request)
        let style = oauth.errorStyle ?? .oauth
        if let failure = Self.classify(
            status: status, json: json, style: style, extraPermanent: Set(oauth.permanentErrors ?? []), retryAfter: retryAfter)
        {
            throw failure
        }
        // TikTok wraps its answer in `data`.
        let body = style == .tiktok ? (json?.value(at: "data") ?? json) : json
        guard let object = body?.object, let accessToken = object["access_token"]?.text, !accessToken.isEmpty else {
            throw ProviderFailure.malformed("the token answer has no access_token")
        }
        // What cannot be stored or sent on is refused or left out here, before anything is written: a write that
        // can never succeed would otherwise be retried with the only copy of a rotated refresh token.
        let refreshToken = object["refresh_token"]?.text.flatMap { $0.isEmpty ? nil : $0 }
        for token in [accessToken, refreshToken].compactMap({ $0 }) {
            guard token.utf8.count <= TokenResponse.tokenLimit, TokenResponse.isPlain(token) else {
                throw ProviderFailure.malformed("a token in the answer is too long or holds control characters")
            }
        }
        let scope = object["scope"]?.text.map {
            $0.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init).filter { TokenResponse.isPlain($0) && $0.utf8.count <= 256 }
        }
        var facts: [String: String] = [:]
        for (key, value) in object where !["access_token", "refresh_token", "id_token"].contains(key) {
            if let text = value.text, TokenResponse.isPlain(key), !text.unicodeScalars.contains("\u{0}"), text.utf8.count <= 4096 {
                facts[key] = text
            }
        }
        return TokenResponse(
            accessToken: accessToken, refreshToken: refreshToken, expiresIn: TokenResponse.lifetime(object["expires_in"]), scopes: scope,
            facts: facts)
    }

    /// The failure an answer stands for, or nil when it is a success. Providers differ (PROVIDERS.md): GitHub
    /// says `bad_refresh_token` with 200, TikTok a non-zero `code` with 200, Meta `{"error": {"code": 190}}`.
    static func classify(status: Int, json: JSONValue?, style: ProviderDefinition.ErrorStyle, extraPermanent: Set<String>, retryAfter: Duration?)
        -> ProviderFailure?
    {
        if status == 429 || status >= 500 {
            return .unavailable(reason: "HTTP \(status)", retryAfter: retryAfter)
        }
        var code: String?
        switch style {
        case .oauth, .github:
            code = json?.object?["error"]?.text
        case .tiktok:
            if let value = json?.object?["code"]?.text, value != "0" { code = value }
        case .meta:
            code = json?.value(at: "error.code")?.text ?? json?.object?["error"]?.text
        case .figma:
            if json?.object?["error"] == .bool(true) { code = json?.object?["message"]?.text ?? "error" }
        }
        if code == nil && !(200..<300).contains(status) { code = "http_\(status)" }
        guard let code else { return nil }
        let refusal = [200, 400, 401, 403].contains(status)
        if refusal && configurationErrors.contains(code) { return .misconfigured(code: code, status: status) }
        let permanent = refusal && (permanentOAuthErrors.contains(code) || extraPermanent.contains(code) || (style == .figma && status != 200))
        return .rejected(code: code, permanent: permanent, status: status)
    }

    // MARK: Calls made with the credential

    /// The provider's cheap read with this credential; the account name when the catalog says where it is.
    public func check(_ kind: ProviderCall, provider: ProviderDefinition, values: TemplateValues) async throws -> ProviderCheck {
        guard let call = kind == .account ? provider.account : provider.test else {
            throw ProviderFailure.malformed("\(provider.slug) has no \(kind.rawValue) call")
        }
        var request = try request(kind, provider: provider, values: values)
        request.method = HTTPMethod(rawValue: call.method.uppercased())
        for (name, value) in call.headers ?? [:] { request.headers.add(name: name, value: try values.render(value)) }
        if let basic = call.basic {
            let pair = "\(try values.render(basic.username)):\(try values.render(basic.password))"
            request.headers.add(name: "Authorization", value: "Basic \(Data(pair.utf8).base64EncodedString())")
        }
        if let body = call.body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: try values.render(body)))
        }
        request.headers.add(name: "Accept", value: "application/json")
        let started = ContinuousClock.now
        let (status, json, retryAfter) = try await send(request)
        let latency = started.duration(to: .now)
        if status == 401 || status == 403 {
            throw ProviderFailure.rejected(code: "http_\(status)", permanent: true, status: status)
        }
        let style = provider.oauth?.errorStyle ?? .oauth
        if let failure = Self.classify(
            status: status, json: json, style: style == .github ? .oauth : style, extraPermanent: Set(provider.oauth?.permanentErrors ?? []),
            retryAfter: retryAfter)
        {
            throw failure
        }
        let name = call.accountNamePath.flatMap { json?.value(at: $0)?.text }
        return ProviderCheck(latency: latency, accountName: name)
    }

    /// The ids of the installations the user's own token may reach (GitHub's `GET /user/installations`, first
    /// page of 100): how an installation id a user names is checked before it is stored.
    public func installations(provider: ProviderDefinition, values: TemplateValues) async throws -> Set<String> {
        var request = try request(.installations, provider: provider, values: values)
        request.method = .GET
        request.headers.add(name: "Authorization", value: "Bearer \(try values.render("{access_token}"))")
        request.headers.add(name: "Accept", value: "application/vnd.github+json")
        let (status, json, retryAfter) = try await send(request)
        if let failure = Self.classify(status: status, json: json, style: .oauth, extraPermanent: [], retryAfter: retryAfter) { throw failure }
        guard case .array(let items)? = json?.object?["installations"] else {
            throw ProviderFailure.malformed("the installations answer has no installations")
        }
        return Set(items.compactMap { $0.object?["id"]?.text })
    }

    /// Revokes a connector's credential (its refresh or its access token, as the catalog says) at the provider;
    /// false when the provider has no revocation or did not confirm.
    public func revoke(
        provider: ProviderDefinition, client: OAuthClient?, accessToken: String?, refreshToken: String?, values: TemplateValues
    ) async throws -> Bool {
        guard let revocation = provider.revoke else { return false }
        let token = revocation.token == .refreshToken ? (refreshToken ?? accessToken) : accessToken
        guard let token else { return false }
        return try await revoke(provider: provider, client: client, token: token, values: values)
    }

    /// Revokes the credential at the provider as the catalog says; true when the provider confirmed it.
    public func revoke(provider: ProviderDefinition, client: OAuthClient?, token: String, values: TemplateValues) async throws -> Bool {
        guard let revocation = provider.revoke else { return false }
        var request = try request(.revoke, provider: provider, values: values)
        request.method = HTTPMethod(rawValue: revocation.method.uppercased())
        request.headers.add(name: "Accept", value: "application/json")
        switch revocation.style {
        case .rfc7009:
            var parameters = ["token": token, "token_type_hint": revocation.token.rawValue]
            if let client {
                if provider.oauth?.clientAuth == .basic {
                    let pair = "\(FormEncoding.encode(client.clientID)):\(FormEncoding.encode(client.clientSecret ?? ""))"
                    request.headers.add(name: "Authorization", value: "Basic \(Data(pair.utf8).base64EncodedString())")
                } else {
                    parameters["client_id"] = client.clientID
                    if let secret = client.clientSecret { parameters["client_secret"] = secret }
                }
            }
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: FormEncoding.encode(parameters)))
        case .queryToken:
            request.url += (request.url.contains("?") ? "&" : "?") + "token=" + TemplateValues.percentEncoded(token)
        case .bearer:
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        case .basicClient:
            guard let client else { return false }
            let pair = "\(client.clientID):\(client.clientSecret ?? "")"
            request.headers.add(name: "Authorization", value: "Basic \(Data(pair.utf8).base64EncodedString())")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(["access_token": token])))
        }
        let (status, _, _) = try await send(request)
        return (200..<300).contains(status)
    }

    // MARK: Transport

    private func send(_ request: HTTPClientRequest) async throws -> (status: Int, json: JSONValue?, retryAfter: Duration?) {
        do {
            let response = try await http.execute(request, timeout: .nanoseconds(Int64(timeout / .nanoseconds(1))))
            let body = try await response.body.collect(upTo: Self.bodyLimit)
            let json = body.readableBytes == 0 ? nil : try? JSONValue.parse(body.readableBytesView)
            let retryAfter = response.headers.first(name: "Retry-After").flatMap(Int.init).map { Duration.seconds(max(0, $0)) }
            return (Int(response.status.code), json, retryAfter)
        } catch let failure as ProviderFailure {
            throw failure
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw ProviderFailure.unavailable(reason: "timeout", retryAfter: nil)
        } catch is NIOTooManyBytesError {
            throw ProviderFailure.malformed("the answer is larger than 1 MiB")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // Connection refused, reset, TLS: the message names no secret, but keep it short.
            throw ProviderFailure.unavailable(reason: "network error", retryAfter: nil)
        }
    }
}

/// `application/x-www-form-urlencoded`, as token endpoints read it.
enum FormEncoding {
    static let allowed = CharacterSet.urlUnreserved

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    static func encode(_ parameters: [String: String]) -> String {
        parameters.sorted(by: { $0.key < $1.key }).map { "\(encode($0.key))=\(encode($0.value))" }.joined(separator: "&")
    }
}

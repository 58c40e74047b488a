/// What a fake API-key service has answered so far; a snapshot.
public struct APIKeyCounters: Sendable, Hashable {
    /// `/v1/me` and `/v1/balance` requests answered 200.
    public var validations = 0
    /// `/v1/me` and `/v1/balance` requests answered 401.
    public var failedValidations = 0
    /// Keys revoked through `POST /v1/revoke`.
    public var revocations = 0
    /// Requests answered with an injected fault instead of reaching an endpoint.
    public var faultsInjected = 0

    /// All zero.
    public init() {}
}

/// The keys a fake API-key service accepts and what it has answered. Only touched under `APIKeyService`'s lock.
struct APIKeyLedger {
    var accepted: Set<String>
    var revoked: Set<String> = []
    var counters = APIKeyCounters()

    /// True for an accepted key that was not revoked; counts the validation either way.
    mutating func validate(_ key: String?) -> Bool {
        let valid = key.map(isValid) ?? false
        if valid { counters.validations += 1 } else { counters.failedValidations += 1 }
        return valid
    }

    func isValid(_ key: String) -> Bool { accepted.contains(key) && !revoked.contains(key) }

    /// Revokes `key` if it is valid; false otherwise.
    mutating func revoke(_ key: String?) -> Bool {
        guard let key, isValid(key) else { return false }
        revoked.insert(key)
        counters.revocations += 1
        return true
    }
}

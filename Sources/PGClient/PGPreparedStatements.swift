/// The statements prepared on one connection: for each SQL text, a name per list of parameter types it was
/// prepared for, up to a limit (statements beyond it run unnamed).
///
/// A name is handed out only once the server accepted its Parse. A statement pipelined behind a Parse still in
/// flight runs unnamed instead: were it to use the name, it would fail whenever that Parse fails.
struct PGPreparedStatements {
    /// What a statement about to be sent finds in the cache.
    enum Lookup: Equatable {
        /// Prepared under this name.
        case prepared(String)
        /// Its Parse is on its way and unanswered: run the statement unnamed.
        case preparing
        /// Not prepared: prepare it under a name from ``reserve(_:types:)``, if that gives one.
        case unknown
    }

    private struct Entry {
        var types: [UInt32]
        var name: String
        var accepted: Bool
    }

    static let defaultLimit = 512

    /// How many statements the cache holds at most, being prepared or prepared.
    let limit: Int
    private var entries: [String: [Entry]] = [:]
    /// Statements held, being prepared or prepared.
    private(set) var count = 0
    private var lastID = 0

    init(limit: Int = Self.defaultLimit) {
        self.limit = limit
    }

    /// What the cache knows of `sql` with parameters of `types`.
    func lookup(_ sql: String, types: some Sequence<UInt32>) -> Lookup {
        guard let entry = entries[sql]?.first(where: { $0.types.elementsEqual(types) }) else { return .unknown }
        return entry.accepted ? .prepared(entry.name) : .preparing
    }

    /// A new name to prepare `sql` under, held as being prepared until ``accept(_:name:)`` or
    /// ``forget(_:name:)``; nil once the cache is full.
    mutating func reserve(_ sql: String, types: [UInt32]) -> String? {
        guard count < limit else { return nil }
        lastID += 1
        let name = "s\(lastID)"
        entries[sql, default: []].append(Entry(types: types, name: name, accepted: false))
        count += 1
        return name
    }

    /// The server accepted the Parse for `name`: other statements may use it from now on.
    mutating func accept(_ sql: String, name: String) {
        guard let index = entries[sql]?.firstIndex(where: { $0.name == name }) else { return }
        entries[sql]![index].accepted = true
    }

    /// Drops `name`, whose Parse failed or never reached the server.
    mutating func forget(_ sql: String, name: String) {
        guard var list = entries[sql], let index = list.firstIndex(where: { $0.name == name }) else { return }
        list.remove(at: index)
        entries[sql] = list.isEmpty ? nil : list
        count -= 1
    }
}

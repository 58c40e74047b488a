/// A SQL statement with its parameters. Every interpolated value becomes a bound `$n` parameter:
///
///     let rows = try await pool.query("SELECT id FROM connector_tokens WHERE user_id = \(userID)")
///
/// SQL text that is not a literal goes in only through ``init(unsafeSQL:bindings:)``.
public struct PGQuery: Sendable, ExpressibleByStringInterpolation {
    /// The statement text with `$1`, `$2` … placeholders.
    public var sql: String
    /// The parameter values, in placeholder order.
    public var bindings: PGBindings

    /// Uses `sql` verbatim. The caller guarantees it holds no untrusted text.
    public init(unsafeSQL sql: String, bindings: PGBindings = PGBindings()) {
        self.sql = sql
        self.bindings = bindings
    }

    public init(stringLiteral value: String) {
        self.sql = value
        self.bindings = PGBindings()
    }

    public init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.sql
        self.bindings = stringInterpolation.bindings
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql: String
        var bindings: PGBindings

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql = ""
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            bindings = PGBindings(capacity: interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        /// Binds a value as the next `$n` parameter.
        public mutating func appendInterpolation(_ value: some PGEncodable) {
            value.encode(into: &bindings)
            sql += "$\(bindings.count)"
        }

        /// Binds a value as the next `$n` parameter, or NULL.
        public mutating func appendInterpolation(_ value: (some PGEncodable)?) {
            if let value { value.encode(into: &bindings) } else { bindings.appendNull() }
            sql += "$\(bindings.count)"
        }

        /// Inserts a fragment of SQL text fixed at compile time (a column list, say). Only a `StaticString`
        /// is accepted, so no runtime value can reach the statement this way.
        public mutating func appendInterpolation(unsafe fragment: StaticString) {
            sql += fragment.description
        }

        /// Inserts a quoted identifier (a table, schema or column name), escaping embedded quotes.
        public mutating func appendInterpolation(identifier: String) {
            sql += PGQuery.quoteIdentifier(identifier)
        }
    }

    /// `name` as a double-quoted SQL identifier.
    public static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

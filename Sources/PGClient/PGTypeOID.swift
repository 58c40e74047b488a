/// The PostgreSQL type OIDs this client encodes and decodes.
public struct PGTypeOID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Lets the server infer the parameter's type from the statement.
    public static let unspecified = PGTypeOID(rawValue: 0)
    public static let bool = PGTypeOID(rawValue: 16)
    public static let bytea = PGTypeOID(rawValue: 17)
    public static let name = PGTypeOID(rawValue: 19)
    public static let int8 = PGTypeOID(rawValue: 20)
    public static let int2 = PGTypeOID(rawValue: 21)
    public static let int4 = PGTypeOID(rawValue: 23)
    public static let text = PGTypeOID(rawValue: 25)
    public static let oid = PGTypeOID(rawValue: 26)
    public static let json = PGTypeOID(rawValue: 114)
    public static let float4 = PGTypeOID(rawValue: 700)
    public static let float8 = PGTypeOID(rawValue: 701)
    public static let unknown = PGTypeOID(rawValue: 705)
    public static let nameArray = PGTypeOID(rawValue: 1003)
    public static let textArray = PGTypeOID(rawValue: 1009)
    public static let varcharArray = PGTypeOID(rawValue: 1015)
    public static let bpchar = PGTypeOID(rawValue: 1042)
    public static let varchar = PGTypeOID(rawValue: 1043)
    public static let date = PGTypeOID(rawValue: 1082)
    public static let timestamp = PGTypeOID(rawValue: 1114)
    public static let timestamptz = PGTypeOID(rawValue: 1184)
    public static let timestamptzArray = PGTypeOID(rawValue: 1185)
    public static let numeric = PGTypeOID(rawValue: 1700)
    public static let uuid = PGTypeOID(rawValue: 2950)
    public static let jsonb = PGTypeOID(rawValue: 3802)

    public var description: String {
        switch self {
        case .bool: "bool"
        case .bytea: "bytea"
        case .name: "name"
        case .int8: "int8"
        case .int2: "int2"
        case .int4: "int4"
        case .text: "text"
        case .oid: "oid"
        case .json: "json"
        case .float4: "float4"
        case .float8: "float8"
        case .unknown: "unknown"
        case .nameArray: "name[]"
        case .textArray: "text[]"
        case .varcharArray: "varchar[]"
        case .bpchar: "bpchar"
        case .varchar: "varchar"
        case .date: "date"
        case .timestamp: "timestamp"
        case .timestamptz: "timestamptz"
        case .timestamptzArray: "timestamptz[]"
        case .numeric: "numeric"
        case .uuid: "uuid"
        case .jsonb: "jsonb"
        default: "oid \(rawValue)"
        }
    }

    /// Types whose binary form is UTF-8 text.
    var isText: Bool {
        self == .text || self == .varchar || self == .bpchar || self == .name || self == .unknown
    }
}

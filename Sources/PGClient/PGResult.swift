import Glibc
import CLibPQ

/// Owns a libpq `PGresult` and frees it when the last reference goes.
///
/// `@unchecked Sendable`: a `PGresult` is never modified after libpq hands it over, and libpq documents
/// finished results as safe to read from several threads.
final class PGResult: @unchecked Sendable {
    let handle: OpaquePointer

    init(_ handle: OpaquePointer) { self.handle = handle }
    deinit { PQclear(handle) }

    var rowCount: Int { Int(PQntuples(handle)) }
    var columnCount: Int { Int(PQnfields(handle)) }

    func columnName(_ column: Int) -> String {
        guard let name = PQfname(handle, Int32(column)) else { return "#\(column)" }
        return String(cString: name)
    }

    /// The index of the column called `name`, compared exactly (no case folding).
    func columnIndex(_ name: String) -> Int? {
        name.withCString { wanted in
            for column in 0..<columnCount {
                if let candidate = PQfname(handle, Int32(column)), strcmp(candidate, wanted) == 0 { return column }
            }
            return nil
        }
    }

    /// Rows affected by an INSERT, UPDATE, DELETE … (0 when the command reports none).
    var affectedRows: Int {
        guard let text = PQcmdTuples(handle) else { return 0 }
        return Int(String(cString: text)) ?? 0
    }

    /// The server's error, if this result is one.
    func error(file: String = #fileID, line: Int = #line) -> PGError? {
        let status = PQresultStatus(handle)
        guard status == PGRES_FATAL_ERROR || status == PGRES_NONFATAL_ERROR || status == PGRES_BAD_RESPONSE else {
            return nil
        }
        func field(_ code: Character) -> String? {
            guard let value = PQresultErrorField(handle, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        let sqlState = field("C")
        let message = PGError.redactingValues(field("M") ?? "server error")
        let code: PGError.Code = sqlState == "57014" ? .cancelled : .server
        return PGError(code, message: message, sqlState: sqlState, constraint: field("n"), file: file, line: line)
    }
}

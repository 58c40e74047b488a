import CLibPQ

// COPY FROM STDIN: the rows encoded by the caller, sent in one go after the statement starts the copy.
extension PGConnection {
    /// Appends `rows` with `sql`, a `COPY table (columns…) FROM STDIN (FORMAT binary)`, and returns the number
    /// of rows the server stored: all of them or, on an error, none. Two round trips, however many rows.
    public func copyIn(unsafeSQL sql: String, rows: PGCopyRows, timeout: Duration? = nil) async throws -> Int {
        let data = try rows.encoded()
        let started = try await roundTrip(timeout: timeout, acceptsCopyIn: true) { handle in PQsendQuery(handle, sql) }
        guard let started, PQresultStatus(started.handle) == PGRES_COPY_IN else {
            throw PGError(.protocolViolation, message: "the statement did not start a COPY FROM STDIN")
        }
        let finished = try await roundTrip(timeout: timeout) { handle in
            // libpq queues the data, growing its buffer; the I/O loop sends what the socket does not take now.
            for part in [data, PGCopyRows.trailer] {
                let queued = part.withUnsafeBufferPointer { bytes -> Bool in
                    let chunk = 1 << 20
                    for start in stride(from: 0, to: bytes.count, by: chunk) {
                        let count = min(chunk, bytes.count - start)
                        let sent = bytes.baseAddress!.advanced(by: start).withMemoryRebound(to: CChar.self, capacity: count) {
                            PQputCopyData(handle, $0, Int32(count))
                        }
                        if sent != 1 { return false }
                    }
                    return true
                }
                guard queued else { return -1 }
            }
            return PQputCopyEnd(handle, nil)
        }
        return try finished.unwrap().affectedRows
    }
}

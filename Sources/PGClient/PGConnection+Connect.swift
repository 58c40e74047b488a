import CLibPQ
import Foundation
import Glibc
import NIOPosix

// Opening a connection: libpq's blocking connect on NIO's thread pool, then the socket handed to an I/O loop.
extension PGConnection {
    /// Opens a connection. The blocking connect runs on NIO's thread pool.
    public static func connect(_ configuration: PGConnectionConfiguration) async throws -> PGConnection {
        try await connect(configuration, loop: PGIOLoop.current)
    }

    /// Opens a connection read by `loop` (nil: the caller's loop, or the next in turn).
    static func connect(_ configuration: PGConnectionConfiguration, loop: PGIOLoop?) async throws -> PGConnection {
        var parameters = configuration.parameters
        if configuration["connect_timeout"] == nil { parameters.append(("connect_timeout", "10")) }
        parameters.append(("client_encoding", "UTF8"))
        let finalParameters = parameters
        let box = try await NIOThreadPool.singleton.runIfActive { () -> SendableHandle in
            SendableHandle(pointer: Self.connectBlocking(finalParameters))
        }
        guard let handle = box.pointer else {
            throw PGError(.connectionFailed, message: "libpq could not allocate a connection")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = Self.errorMessage(handle)
            PQfinish(handle)
            throw PGError(.connectionFailed, message: message)
        }
        // Server notices ("relation already exists, skipping") would go to stderr; they may quote values.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        guard PQsetnonblocking(handle, 1) == 0 else {
            PQfinish(handle)
            throw PGError(.connectionFailed, message: "could not put the connection in non-blocking mode")
        }
        let connection = PGConnection(handle: handle, loop: loop ?? PGIOLoop.forNewConnection())
        do {
            connection.token = try connection.loop.register(fd: connection.socket, source: connection)
        } catch {
            _ = connection.state.close()  // never watched: nothing to stop
            throw error
        }
        return connection
    }

    struct SendableHandle: @unchecked Sendable {  // handed from the connecting thread to the caller, once
        var pointer: OpaquePointer?
    }

    private static func connectBlocking(_ parameters: [(key: String, value: String)]) -> OpaquePointer? {
        let keys = parameters.map { strdup($0.key) }
        let values = parameters.map { strdup($0.value) }
        defer {
            keys.forEach { free($0) }
            values.forEach { free($0) }
        }
        let keyPointers = keys.map { UnsafePointer($0) } + [nil]
        let valuePointers = values.map { UnsafePointer($0) } + [nil]
        return PQconnectdbParams(keyPointers, valuePointers, 0)
    }

    /// libpq's last error text for a connection, with values redacted. It never includes the password.
    static func errorMessage(_ handle: OpaquePointer) -> String {
        guard let text = PQerrorMessage(handle) else { return "unknown libpq error" }
        let message = String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
        return PGError.redactingValues(message.isEmpty ? "unknown libpq error" : message)
    }
}

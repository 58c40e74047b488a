import Connectors
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Request and response bodies as every route reads and writes them.
enum HTTPBodies {
    /// DESIGN.md's limit on request bodies.
    static let limit = 64 * 1024

    /// The whole request body, or 413 past the limit.
    static func collect(_ request: Request) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError.tooLarge
        }
    }

    static func json(_ status: HTTPResponse.Status, _ bytes: [UInt8]) -> Response {
        json(status, ByteBuffer(bytes: bytes))
    }

    static func json(_ status: HTTPResponse.Status, _ buffer: ByteBuffer) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: ResponseBody(byteBuffer: buffer))
    }

    /// An `Encodable` answer, as ``JSONCoding`` writes it: snake-case names, dates in RFC 3339 UTC.
    static func json(_ status: HTTPResponse.Status, encoding value: some Encodable) throws -> Response {
        json(status, Array(try JSONCoding.encoder.encode(value)))
    }
}

import Connectors
import Foundation
import NIOCore

/// A resolve answer in the form the cache keeps: the answer's nine values, each already JSON (strings quoted and
/// escaped), after their lengths; not the body, whose member names and punctuation are the same for every
/// answer. That is about 60 % of the body's size, and what bounds the cache's memory.
///
/// Every answer's body, from the cache or from the database, is put together from this form by ``body(_:)``,
/// so the two can never differ.
///
/// Layout: nine lengths (LEB128: one byte below 128), then the nine values back to back.
enum ResolveAnswer {
    /// The answer's members, in the order the body names them.
    static let members = ["connector_id", "provider", "user_id", "type", "access_token", "token_type", "expires_at", "scopes", "metadata"]

    /// `{"connector_id":`, `,"provider":`, …: what comes before each value. The body ends with `}`.
    private static let prefixes: [[UInt8]] = members.enumerated().map { index, name in
        Array(((index == 0 ? "{" : ",") + "\"" + name + "\":").utf8)
    }
    private static let templateLength = prefixes.reduce(1) { $0 + $1.count }

    static func encode(_ connector: ResolvedConnector) -> [UInt8] {
        let record = connector.record
        return encode(
            connectorID: record.id, provider: record.provider, userID: record.userID, type: record.type.rawValue,
            accessToken: connector.accessToken, tokenType: connector.tokenType, expiresAt: record.expiresAt,
            scopes: record.scopes, metadataJSON: record.metadataJSON)
    }

    static func encode(
        connectorID: String, provider: String, userID: String, type: String, accessToken: String, tokenType: String,
        expiresAt: Date?, scopes: [String], metadataJSON: String
    ) -> [UInt8] {
        var values = JSONText(capacity: 200 + accessToken.utf8.count + metadataJSON.utf8.count)
        var ends: [Int] = []
        ends.reserveCapacity(members.count)
        values.string(connectorID)
        ends.append(values.bytes.count)
        values.string(provider)
        ends.append(values.bytes.count)
        values.string(userID)
        ends.append(values.bytes.count)
        values.string(type)
        ends.append(values.bytes.count)
        values.string(accessToken)
        ends.append(values.bytes.count)
        values.string(tokenType)
        ends.append(values.bytes.count)
        values.optionalString(expiresAt.map { $0.formatted(.iso8601) })
        ends.append(values.bytes.count)
        values.stringArray(scopes)
        ends.append(values.bytes.count)
        values.rawJSON(metadataJSON)
        ends.append(values.bytes.count)

        var stored: [UInt8] = []
        stored.reserveCapacity(2 * members.count + values.bytes.count)
        var start = 0
        for end in ends {
            var length = end - start
            while length >= 0x80 {
                stored.append(UInt8(length & 0x7F) | 0x80)
                length >>= 7
            }
            stored.append(UInt8(length))
            start = end
        }
        stored.append(contentsOf: values.bytes)
        return stored
    }

    /// The JSON body of a stored answer.
    static func body(_ stored: UnsafeRawBufferPointer) -> ByteBuffer {
        var reader = Reader(stored)
        var buffer = ByteBufferAllocator().buffer(capacity: stored.count - reader.valuesStart + templateLength)
        for prefix in prefixes {
            buffer.writeBytes(prefix)
            buffer.writeBytes(reader.nextValue())
        }
        buffer.writeInteger(UInt8(ascii: "}"))
        return buffer
    }

    /// The connector id of a stored answer. Ids are made by resolverd, a prefix and base32, so their JSON form is
    /// the id in quotes.
    static func connectorID(_ stored: UnsafeRawBufferPointer) -> String {
        var reader = Reader(stored)
        return String(decoding: reader.nextValue().dropFirst().dropLast(), as: UTF8.self)
    }

    /// The cache's view of a stored answer: the connector id the audit needs, and the body.
    static func decode(_ stored: UnsafeRawBufferPointer) -> (connectorID: String, body: ByteBuffer) {
        (connectorID(stored), body(stored))
    }

    /// Walks the lengths and the values side by side.
    private struct Reader {
        let stored: UnsafeRawBufferPointer
        var lengthAt = 0
        var valueAt: Int
        let valuesStart: Int

        init(_ stored: UnsafeRawBufferPointer) {
            self.stored = stored
            var end = 0
            for _ in ResolveAnswer.members {
                while stored[end] & 0x80 != 0 { end += 1 }
                end += 1
            }
            valuesStart = end
            valueAt = end
        }

        mutating func nextValue() -> UnsafeRawBufferPointer {
            var length = 0
            var shift = 0
            while true {
                let byte = stored[lengthAt]
                lengthAt += 1
                length |= Int(byte & 0x7F) << shift
                if byte & 0x80 == 0 { break }
                shift += 7
            }
            defer { valueAt += length }
            return UnsafeRawBufferPointer(rebasing: stored[valueAt..<valueAt + length])
        }
    }
}

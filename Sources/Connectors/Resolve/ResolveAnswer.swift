public import Foundation
public import NIOCore

/// A resolve answer in the form the cache keeps, which is what bounds the cache's memory: the answer's nine
/// values, not the body, whose member names and punctuation are the same for every answer. A value is kept as
/// one of:
/// - a reference to the request's provider or user id, which the cache's key holds already;
/// - a one-byte code for a value many answers share (`null`, `[]`, `"api_key"`, `"Bearer"`…);
/// - its JSON text (strings quoted and escaped).
///
/// Every answer's body, from the cache or from the database, is put together from this form by
/// ``body(_:provider:userID:)``, so the two can never differ.
///
/// Layout: nine headers (LEB128, one byte below 128), then the texts back to back. A header is the text's
/// length times two, or a code times two plus one.
public enum ResolveAnswer {
    /// The answer's members, in the order the body names them.
    public static let members = ["connector_id", "provider", "user_id", "type", "access_token", "token_type", "expires_at", "scopes", "metadata"]

    /// `{"connector_id":`, `,"provider":`, …: what comes before each value. The body ends with `}`.
    private static let prefixes: [[UInt8]] = members.enumerated().map { index, name in
        Array(((index == 0 ? "{" : ",") + "\"" + name + "\":").utf8)
    }
    private static let templateLength = prefixes.reduce(1) { $0 + $1.count }

    /// Codes 0 and 1: the request's provider and user id. From 2: these values.
    private static let shared: [[UInt8]] = [
        "null", "[]", "{}", #""api_key""#, #""oauth""#, #""Bearer""#, #""bearer""#,
    ].map { Array($0.utf8) }
    private static let providerCode = 0
    private static let userCode = 1
    private static let firstShared = 2

    public static func encode(_ connector: ResolvedConnector, for key: ResolveCache.Key) -> [UInt8] {
        let record = connector.record
        return encode(
            connectorID: record.id, provider: record.provider, userID: record.userID, type: record.type.rawValue,
            accessToken: connector.accessToken, tokenType: connector.tokenType, expiresAt: record.expiresAt,
            scopes: record.scopes, metadataJSON: record.metadataJSON, for: key)
    }

    public static func encode(
        connectorID: String, provider: String, userID: String, type: String, accessToken: String, tokenType: String,
        expiresAt: Date?, scopes: [String], metadataJSON: String, for key: ResolveCache.Key
    ) -> [UInt8] {
        var texts = JSONText(capacity: 100 + accessToken.utf8.count + metadataJSON.utf8.count)
        var headers: [Int] = []
        headers.reserveCapacity(members.count)
        /// Appends one value: `write` puts its JSON text at the end of `texts`, which is kept only when the text
        /// is not one of the shared values.
        func value(_ write: (inout JSONText) -> Void) {
            let start = texts.bytes.count
            write(&texts)
            let length = texts.bytes.count - start
            if let code = shared.firstIndex(where: { $0.elementsEqual(texts.bytes[start...]) }) {
                texts.removeLast(length)
                headers.append((firstShared + code) << 1 | 1)
            } else {
                headers.append(length << 1)
            }
        }
        value { $0.string(connectorID) }
        if provider.utf8.elementsEqual(key.provider.utf8) { headers.append(providerCode << 1 | 1) } else { value { $0.string(provider) } }
        if userID.utf8.elementsEqual(key.userID.utf8) { headers.append(userCode << 1 | 1) } else { value { $0.string(userID) } }
        value { $0.string(type) }
        value { $0.string(accessToken) }
        value { $0.string(tokenType) }
        value { $0.optionalString(expiresAt.map { $0.formatted(.iso8601) }) }
        value { $0.stringArray(scopes) }
        value { $0.rawJSON(metadataJSON) }

        var stored: [UInt8] = []
        stored.reserveCapacity(2 * members.count + texts.bytes.count)
        for var header in headers {
            while header >= 0x80 {
                stored.append(UInt8(header & 0x7F) | 0x80)
                header >>= 7
            }
            stored.append(UInt8(header))
        }
        stored.append(contentsOf: texts.bytes)
        return stored
    }

    /// The JSON body of a stored answer, for the request (`provider`, `userID`) it was found under.
    public static func body(_ stored: UnsafeRawBufferPointer, provider: String, userID: String) -> ByteBuffer {
        var reader = Reader(stored)
        var buffer = ByteBufferAllocator().buffer(
            capacity: stored.count + templateLength + 64 + 2 * (provider.utf8.count + userID.utf8.count))
        for prefix in prefixes {
            buffer.writeBytes(prefix)
            switch reader.next() {
            case .text(let text): buffer.writeBytes(text)
            case .code(providerCode): buffer.writeJSONString(provider)
            case .code(userCode): buffer.writeJSONString(userID)
            case .code(let code): buffer.writeBytes(shared[code - firstShared])
            }
        }
        buffer.writeInteger(UInt8(ascii: "}"))
        return buffer
    }

    /// The connector id of a stored answer. Ids are made by resolverd, a prefix and base32, so their JSON form is
    /// the id in quotes.
    public static func connectorID(_ stored: UnsafeRawBufferPointer) -> String {
        var reader = Reader(stored)
        guard case .text(let text) = reader.next() else { return "" }
        return String(decoding: text.dropFirst().dropLast(), as: UTF8.self)
    }

    /// Walks the headers and the texts side by side.
    private struct Reader {
        enum Value {
            case text(UnsafeRawBufferPointer)
            case code(Int)
        }

        let stored: UnsafeRawBufferPointer
        var headerAt = 0
        var textAt: Int

        init(_ stored: UnsafeRawBufferPointer) {
            self.stored = stored
            var end = 0
            for _ in ResolveAnswer.members {
                while stored[end] & 0x80 != 0 { end += 1 }
                end += 1
            }
            textAt = end
        }

        mutating func next() -> Value {
            var header = 0
            var shift = 0
            while true {
                let byte = stored[headerAt]
                headerAt += 1
                header |= Int(byte & 0x7F) << shift
                if byte & 0x80 == 0 { break }
                shift += 7
            }
            if header & 1 == 1 { return .code(header >> 1) }
            let length = header >> 1
            defer { textAt += length }
            return .text(UnsafeRawBufferPointer(rebasing: stored[textAt..<textAt + length]))
        }
    }
}

extension ByteBuffer {
    /// Writes `value` as a JSON string: as it is between quotes when nothing in it needs escaping (the usual
    /// case), else through ``JSONText``.
    public mutating func writeJSONString(_ value: String) {
        let plain = value.utf8.allSatisfy { $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
        if plain {
            writeInteger(UInt8(ascii: "\""))
            writeString(value)
            writeInteger(UInt8(ascii: "\""))
        } else {
            var text = JSONText(capacity: value.utf8.count + 16)
            text.string(value)
            writeBytes(text.bytes)
        }
    }
}

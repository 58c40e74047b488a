import Foundation

/// Turns `postgres://user:password@host:port,host2/dbname?option=value` into libpq keywords.
enum ConnectionURL {
    static func parse(_ url: String) throws -> [(key: String, value: String)] {
        var rest = Substring(url)
        rest = rest[rest.range(of: "://")!.upperBound...]
        var parameters: [(key: String, value: String)] = []

        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                parameters.append(("user", try decode(userInfo[..<colon], part: "user name")))
                parameters.append(("password", try decode(userInfo[userInfo.index(after: colon)...], part: "password")))
            } else if !userInfo.isEmpty {
                parameters.append(("user", try decode(userInfo, part: "user name")))
            }
        }
        if !rest.isEmpty {
            let (hosts, ports) = try parseHosts(rest)
            if hosts.contains(where: { !$0.isEmpty }) { parameters.append(("host", hosts.joined(separator: ","))) }
            if ports.contains(where: { !$0.isEmpty }) { parameters.append(("port", ports.joined(separator: ","))) }
        }
        if !path.isEmpty {
            parameters.append(("dbname", try decode(path, part: "database name")))
        }
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            guard let equals = pair.firstIndex(of: "=") else {
                throw PGError(.invalidConfiguration, message: "URL query option '\(pair)' has no '=value'")
            }
            let key = try decode(pair[..<equals], part: "query option name")
            let value = try decode(pair[pair.index(after: equals)...], part: "value of option '\(key)'")
            parameters.append((key, value))
        }
        return parameters
    }

    private static func parseHosts(_ authority: Substring) throws -> (hosts: [String], ports: [String]) {
        var hosts: [String] = []
        var ports: [String] = []
        for entry in authority.split(separator: ",", omittingEmptySubsequences: false) {
            var host: Substring
            var port: Substring = ""
            if entry.hasPrefix("[") {
                guard let close = entry.firstIndex(of: "]") else {
                    throw PGError(.invalidConfiguration, message: "IPv6 host '\(entry)' lacks its closing ']'")
                }
                host = entry[entry.index(after: entry.startIndex)..<close]
                let after = entry[entry.index(after: close)...]
                if after.hasPrefix(":") {
                    port = after.dropFirst()
                } else if !after.isEmpty {
                    throw PGError(.invalidConfiguration, message: "unexpected text after IPv6 host '\(host)'")
                }
            } else if let colon = entry.lastIndex(of: ":") {
                host = entry[..<colon]
                port = entry[entry.index(after: colon)...]
            } else {
                host = entry
            }
            if !port.isEmpty {
                guard let number = Int(port), (1...65535).contains(number) else {
                    throw PGError(.invalidConfiguration, message: "port '\(port)' is not a number from 1 to 65535")
                }
            }
            hosts.append(try decode(host, part: "host"))
            ports.append(String(port))
        }
        return (hosts, ports)
    }

    private static func decode(_ part: Substring, part name: String) throws -> String {
        guard let decoded = String(part).removingPercentEncoding else {
            throw PGError(.invalidConfiguration, message: "the \(name) in the connection URL has invalid percent-encoding")
        }
        return decoded
    }
}

/// Parses libpq's `key=value key2='quoted \' value'` connection strings.
enum KeywordString {
    static func parse(_ string: String) throws -> [(key: String, value: String)] {
        var parameters: [(key: String, value: String)] = []
        var chars = Array(string.unicodeScalars)[...]
        func skipSpace() { while let c = chars.first, c.properties.isWhitespace { chars.removeFirst() } }
        while true {
            skipSpace()
            guard !chars.isEmpty else { break }
            var key = ""
            while let c = chars.first, c != "=", !c.properties.isWhitespace {
                key.unicodeScalars.append(c)
                chars.removeFirst()
            }
            skipSpace()
            guard chars.first == "=" else {
                throw PGError(.invalidConfiguration, message: "connection option '\(key)' has no '=value'")
            }
            chars.removeFirst()
            skipSpace()
            var value = ""
            if chars.first == "'" {
                chars.removeFirst()
                var closed = false
                while let c = chars.popFirst() {
                    if c == "\\", let next = chars.popFirst() {
                        value.unicodeScalars.append(next)
                    } else if c == "'" {
                        closed = true
                        break
                    } else {
                        value.unicodeScalars.append(c)
                    }
                }
                guard closed else {
                    throw PGError(.invalidConfiguration, message: "the quoted value of connection option '\(key)' is not closed")
                }
            } else {
                while let c = chars.first, !c.properties.isWhitespace {
                    chars.removeFirst()
                    if c == "\\", let next = chars.popFirst() {
                        value.unicodeScalars.append(next)
                    } else {
                        value.unicodeScalars.append(c)
                    }
                }
            }
            parameters.append((key, value))
        }
        return parameters
    }
}

import Testing
@testable import PGClient

@Suite struct ConnectionConfigurationTests {
    @Test func parsesAFullURL() throws {
        let config = try PGConnectionConfiguration("postgres://app:s3cr%40t@db.internal:6543/resolver?sslmode=require&application_name=x")
        #expect(config["user"] == "app")
        #expect(config["password"] == "s3cr@t")
        #expect(config["host"] == "db.internal")
        #expect(config["port"] == "6543")
        #expect(config["dbname"] == "resolver")
        #expect(config["sslmode"] == "require")
        #expect(config["application_name"] == "x")
    }

    @Test func parsesSeveralHostsIPv6AndSocketDirectories() throws {
        let multi = try PGConnectionConfiguration("postgresql://a:5432,[::1]:5433,b/db")
        #expect(multi["host"] == "a,::1,b")
        #expect(multi["port"] == "5432,5433,")
        let socket = try PGConnectionConfiguration("postgres://u@%2Fvar%2Frun%2Fpostgresql/db")
        #expect(socket["host"] == "/var/run/postgresql")
        let queryHost = try PGConnectionConfiguration("postgres:///db?host=/tmp/sock")
        #expect(queryHost["host"] == "/tmp/sock")
        #expect(queryHost["dbname"] == "db")
    }

    @Test func parsesKeywordStrings() throws {
        let config = try PGConnectionConfiguration("host=/tmp  port = 5433 dbname='my db' password='it\\'s'")
        #expect(config["host"] == "/tmp")
        #expect(config["port"] == "5433")
        #expect(config["dbname"] == "my db")
        #expect(config["password"] == "it's")
    }

    @Test(arguments: [
        ("postgres://u:hunter2@h:abc/db", "port 'abc'"),
        ("postgres://u:hunter2@h:70000/db", "port '70000'"),
        ("postgres://u:hunter2@h/db?bogus=1", "unknown connection option 'bogus'"),
        ("postgres://u:hunter2@h/db?sslmode", "'sslmode' has no '=value'"),
        ("postgres://u:hunter2@[::1/db", "closing ']'"),
        ("mysql://u:hunter2@h/db", "postgres://"),
        ("host=h password='hunter2", "not closed"),
        ("host=h password", "'password' has no '=value'"),
        ("postgres://u:hunter2%zz@h/db", "password in the connection URL has invalid percent-encoding"),
    ])
    func badStringsNameTheBadPartButNeverThePassword(input: String, expected: String) throws {
        let error = try #require(throws: PGError.self) { try PGConnectionConfiguration(input) }
        #expect(error.code == .invalidConfiguration)
        #expect(error.message.contains(expected), "\(error.message)")
        #expect(!error.message.contains("hunter2"))
        #expect(!"\(error)".contains("hunter2"))
        #expect(!String(reflecting: error).contains("hunter2"))
    }

    @Test func descriptionRedactsThePassword() throws {
        let config = try PGConnectionConfiguration("postgres://u:hunter2@h/db")
        #expect(!config.description.contains("hunter2"))
        #expect(config.description.contains("password=<redacted>"))
    }

    @Test func serverSettingsGoThroughOptions() throws {
        var config = try PGConnectionConfiguration("postgres://h/db")
        config.addServerSetting("search_path", "a b")
        config.addServerSetting("statement_timeout", "100")
        #expect(config["options"] == "-c search_path=a\\ b -c statement_timeout=100")
    }
}

@Suite struct ServerMessageRedactionTests {
    @Test func valuesAfterAColonAreRedactedIdentifiersStay() {
        #expect(
            PGError.redactingValues(#"invalid input syntax for type uuid: "sk_live_abc""#)
                == #"invalid input syntax for type uuid: "…""#)
        #expect(
            PGError.redactingValues(#"relation "connector_tokens" does not exist"#)
                == #"relation "connector_tokens" does not exist"#)
    }
}

import Testing

@testable import PGClient

/// The prepared-statement cache on its own, without a server.
struct PreparedStatementsTests {
    private func reserve(_ statements: inout PGPreparedStatements, _ sql: String, types: [UInt32]) throws -> String {
        let name = statements.reserve(sql, types: types)
        return try #require(name)
    }

    @Test func aStatementIsPreparedOncePerListOfParameterTypes() throws {
        var statements = PGPreparedStatements()
        #expect(statements.lookup("SELECT $1", types: [23]) == .unknown)
        let name = try reserve(&statements, "SELECT $1", types: [23])
        statements.accept("SELECT $1", name: name)
        #expect(statements.lookup("SELECT $1", types: [23]) == .prepared(name))
        #expect(statements.lookup("SELECT $1", types: [25]) == .unknown)
        let other = try reserve(&statements, "SELECT $1", types: [25])
        #expect(other != name)
        #expect(statements.count == 2)
    }

    @Test func aNameIsNotHandedOutUntilItsParseWasAccepted() throws {
        var statements = PGPreparedStatements()
        let name = try reserve(&statements, "SELECT 1", types: [])
        #expect(statements.lookup("SELECT 1", types: []) == .preparing)
        statements.accept("SELECT 1", name: name)
        #expect(statements.lookup("SELECT 1", types: []) == .prepared(name))
    }

    @Test func aFailedParseIsForgottenAndPreparedAgainUnderANewName() throws {
        var statements = PGPreparedStatements()
        let name = try reserve(&statements, "SELECT 1", types: [])
        statements.forget("SELECT 1", name: name)
        #expect(statements.lookup("SELECT 1", types: []) == .unknown)
        #expect(statements.count == 0)
        let again = try reserve(&statements, "SELECT 1", types: [])
        #expect(again != name)
    }

    @Test func aFullCacheGivesNoMoreNames() throws {
        var statements = PGPreparedStatements(limit: 2)
        #expect(statements.reserve("SELECT 1", types: []) != nil)
        let second = try reserve(&statements, "SELECT 2", types: [])
        #expect(statements.reserve("SELECT 3", types: []) == nil)
        statements.forget("SELECT 2", name: second)
        #expect(statements.reserve("SELECT 3", types: []) != nil)
    }
}

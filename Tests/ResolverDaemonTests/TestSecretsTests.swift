import ProviderFakes
import ResolverCrypto
import Testing

/// The scan behind every harness's "no secret in the logs" check finds a secret anywhere in a line, whether
/// logged in process or by a `resolverd` process, and does not cry wolf.
@Suite struct TestSecretsTests {
    @Test func aGivenSecretIsFoundWhereverItIsLogged() throws {
        let secrets = TestSecrets()
        let key = "sk_test_" + Hex.encode(try SecureRandom.bytes(count: 16))
        secrets.given(key)
        secrets.given("short")
        secrets.logged("info resolved provider=stripe", source: "test")
        secrets.logged(#"{"msg":"resolve failed","error":"Bearer sk_test_"}"#, source: "test")
        secrets.logged("short", source: "test")
        #expect(secrets.takeLeaks().isEmpty)

        secrets.logged(#"{"msg":"oops","token":"\#(key)"}"#, source: "daemon one")
        secrets.logged("\(key)", source: "daemon two")
        secrets.logged("prefix\(key)suffix", source: "daemon three")
        let leaks = secrets.takeLeaks()
        #expect(leaks.count == 3)
        #expect(leaks.allSatisfy { !$0.contains(key) })
        #expect(leaks.first?.contains("daemon one") == true)
        #expect(secrets.takeLeaks().isEmpty)
        #expect(secrets.tally.secrets == 1)
    }
}

import HTTPTypes
import NIOHTTP1
import Testing

@testable import ResolverDaemon

/// `X-Reeve-Services-Token` is read by one rule from the router's fields and from the fast path's NIO headers.
@Suite struct ServicesTokenHeaderTests {
    static let cases: [(fields: [(String, String)], token: String?)] = [
        ([("Accept", "*/*")], nil),
        ([("Accept", "*/*"), ("X-Reeve-Services-Token", "svc_one")], "svc_one"),
        ([("x-reeve-services-token", "svc_lower")], "svc_lower"),
        ([("X-REEVE-SERVICES-TOKEN", "svc_upper"), ("Content-Type", "application/json")], "svc_upper"),
        ([("X-Reeve-Services-Tokens", "svc_longer"), ("X-Reeve-Services-Toke", "svc_shorter")], nil),
        ([("X-Reeve-Services-Token", "svc_a"), ("x-reeve-services-token", "svc_b")], nil),
        ([("X-Reeve-Services-Token", "svc_same"), ("X-Reeve-Services-Token", "svc_same")], nil),
    ]

    @Test(arguments: cases)
    func bothHeaderTypesGiveTheSameToken(_ fields: [(String, String)], _ token: String?) {
        var router = HTTPFields()
        for (name, value) in fields { router.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        #expect(ServicesTokenHeader.token(in: router) == token)
        #expect(ServicesTokenHeader.token(in: HTTPHeaders(fields)) == token)
        #expect(ResolveFastPath.servicesToken(in: HTTPHeaders(fields)) == token)
    }
}

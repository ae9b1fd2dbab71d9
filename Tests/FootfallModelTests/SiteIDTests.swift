@testable import FootfallModel
import Testing

@Suite struct SiteIDTests {
    @Test(arguments: [("example.com", "example.com"), ("Example.COM", "example.com"), ("a", "a"), ("my-site.co.uk", "my-site.co.uk"),
                      ("123.example", "123.example"), ("xn--bcher-kva.example", "xn--bcher-kva.example")])
    func validIDs_areAcceptedLowercased(input: String, expected: String) {
        #expect(SiteID(input)?.rawValue == expected)
        #expect(SiteID(input)?.description == expected)
    }

    @Test func caseVariants_areTheSameSite() {
        #expect(SiteID("EXAMPLE.com") == SiteID("example.COM"))
    }

    @Test(arguments: ["", " ", "exa mple.com", " example.com", "example.com ", "example.com/path", "a/b", "a\\b", ".example.com",
                      "example.com.", "https://example.com", "example.com:8080", "user@example.com", "ex_ample.com",
                      "exämple.com", "例え.jp", "example.com\n", "example.com\u{0}", "*.example.com", "%2e.com"])
    func malformedIDs_areRejected(input: String) {
        #expect(SiteID(input) == nil)
    }

    @Test func lengthLimit_is253Bytes() {
        let label = String(repeating: "a", count: 63)
        let longest = [label, label, label, String(repeating: "b", count: 61)].joined(separator: ".")
        #expect(longest.utf8.count == 253)
        #expect(SiteID(longest)?.rawValue == longest)
        #expect(SiteID(longest + "c") == nil)
        #expect(SiteID(String(repeating: "a", count: 253)) != nil)
        #expect(SiteID(String(repeating: "a", count: 254)) == nil)
        #expect(SiteID(String(repeating: "a", count: 10_000)) == nil)
    }

    @Test func ordering_isByName() {
        #expect(SiteID("a.com")! < SiteID("b.com")!)
        #expect([SiteID("c.org")!, SiteID("a.net")!, SiteID("b.com")!].sorted().map(\.rawValue) == ["a.net", "b.com", "c.org"])
    }
}

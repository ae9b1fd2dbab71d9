@testable import FootfallModel
import Testing

@Suite struct URLSanitizerPageTests {
    @Test func absoluteURL_keepsHostPathAndUTMOnly() {
        let page = URLSanitizer.page("https://Example.com/pricing/team?utm_source=newsletter&email=jane%40example.com&token=s3cr3t&utm_medium=email#section-2")
        #expect(page?.host == "example.com")
        #expect(page?.path == "/pricing/team")
        #expect(page?.utm == UTM(source: "newsletter", medium: "email"))
    }

    @Test func personalDataInTheQuery_neverSurvives() throws {
        let page = try #require(URLSanitizer.page("https://shop.example/checkout?email=jane@example.com&name=Jane+Doe&phone=555-0100&q=my+secret+search&session=abc123"))
        let everything = [page.host, page.path, page.utm.source, page.utm.medium, page.utm.campaign, page.utm.term, page.utm.content].joined(separator: "|")
        for secret in ["jane", "Jane", "555", "secret", "abc123", "email", "?", "="] {
            #expect(!everything.contains(secret), "\(secret) leaked into \(everything)")
        }
        #expect(page.path == "/checkout")
    }

    /// A delimiter followed by a combining mark is one `Character` equal to no delimiter: the
    /// split is on bytes, so such a query or fragment still leaves the path.
    @Test func aDelimiterWithACombiningMark_stillEndsThePath() {
        let query = URLSanitizer.page("https://shop.example/account?\u{301}email=jane@example.com")
        #expect(query?.path == "/account")
        #expect(URLSanitizer.page("/account#\u{301}jane@example.com")?.path == "/account")
        #expect(URLSanitizer.page("https://shop.example/\u{301}x")?.host == "shop.example")
    }

    @Test func hosts_areLowercased_asUnicodeDoes() {
        #expect(URLSanitizer.page("HTTPS://Shop.EXAMPLE:8443/x")?.host == "shop.example")
        // The Kelvin sign lowercases to an ASCII "k".
        #expect(URLSanitizer.page("https://\u{212A}ite.example/x")?.host == "kite.example")
        #expect(URLSanitizer.page("https://b\u{FC}cher.example/x") == nil)
        #expect(URLSanitizer.page("ftp://shop.example/x") == nil)
        #expect(URLSanitizer.page("shop.example/a:b//c") == nil)
        #expect(URLSanitizer.referrerHost("Https://user:pw@News.Example:80/a?b", siteHost: "shop.example") == "news.example")
    }

    @Test func allFiveUTMParameters_areKept() {
        let page = URLSanitizer.page("/landing?utm_source=a&utm_medium=b&utm_campaign=c&utm_term=d&utm_content=e")
        #expect(page?.utm == UTM(source: "a", medium: "b", campaign: "c", term: "d", content: "e"))
    }

    @Test func utmNames_areCaseInsensitive_andLookalikesAreDropped() {
        #expect(URLSanitizer.page("/x?UTM_Source=a&utm_sourcex=b&xutm_medium=c")?.utm == UTM(source: "a"))
    }

    @Test func utmValues_arePercentDecoded() {
        let page = URLSanitizer.page("/x?utm_campaign=spring%20sale%202024&utm_source=caf%C3%A9&utm_term=a+b&utm_content=%E2%82%AC5")
        #expect(page?.utm.campaign == "spring sale 2024")
        #expect(page?.utm.source == "café")
        #expect(page?.utm.term == "a b")
        #expect(page?.utm.content == "€5")
    }

    @Test func utmValues_areBounded() {
        let long = String(repeating: "x", count: 1_000)
        #expect(URLSanitizer.page("/x?utm_source=\(long)")?.utm.source.count == URLSanitizer.utmLengthMax)
    }

    @Test func utmWithoutValue_orEmpty_isIgnored() {
        #expect(URLSanitizer.page("/x?utm_source&utm_medium=&&=x")?.utm == UTM())
    }

    @Test func lastOccurrence_ofARepeatedUTMWins() {
        #expect(URLSanitizer.page("/x?utm_source=a&utm_source=b")?.utm.source == "b")
    }

    @Test(arguments: [("/", "/"), ("/blog/post-1", "/blog/post-1"), ("/a/b/?x=1", "/a/b/"), ("/search#results", "/search"), ("/?", "/"), ("/#", "/")])
    func barePaths_areAccepted(raw: String, path: String) {
        let page = URLSanitizer.page(raw)
        #expect(page?.host == "")
        #expect(page?.path == path)
    }

    @Test(arguments: ["https://example.com", "https://example.com?utm_source=x", "https://example.com#top", "http://example.com/"])
    func urlWithoutPath_isTheRootPage(raw: String) {
        #expect(URLSanitizer.page(raw)?.path == "/")
        #expect(URLSanitizer.page(raw)?.host == "example.com")
    }

    @Test func pathCase_isPreserved_hostIsLowercased() {
        let page = URLSanitizer.page("HTTPS://WWW.Example.COM/About/Team")
        #expect(page?.host == "www.example.com")
        #expect(page?.path == "/About/Team")
    }

    @Test func userinfoAndPort_areDroppedFromTheHost() {
        let page = URLSanitizer.page("https://jane:hunter2@example.com:8443/account")
        #expect(page?.host == "example.com")
        #expect(page?.path == "/account")
    }

    @Test(arguments: ["javascript:alert(1)", "javascript://%0aalert(1)", "ftp://example.com/file", "file:///etc/passwd", "data:text/html,hi",
                      "mailto:jane@example.com", "garbage", "", "example.com/path", "https://", "https:///path", "https://exa mple.com/",
                      "https://ex<ample.com/"])
    func nonHTTPAndGarbage_areRejected(raw: String) {
        #expect(URLSanitizer.page(raw) == nil)
    }

    @Test func longPaths_areTruncated() {
        let long = "/" + String(repeating: "a", count: 2_000)
        let page = URLSanitizer.page("https://example.com\(long)?utm_source=x")
        #expect(page?.path.utf8.count == URLSanitizer.pathLengthMax)
        #expect(page.map { long.hasPrefix($0.path) } == true)
        #expect(page?.utm.source == "x")
        let exact = "/" + String(repeating: "b", count: URLSanitizer.pathLengthMax - 1)
        #expect(URLSanitizer.page(exact)?.path == exact)
    }

    @Test
    func longPathWithMultibyteCharacters_isTruncatedNotDropped() {
        let long = "/" + String(repeating: "a", count: 510) + "é" + "/rest"
        let path = URLSanitizer.page(long)?.path
        #expect(path == "/" + String(repeating: "a", count: 510))
    }

    @Test
    func barePathWithAURLInItsQuery_keepsThePath() {
        let page = URLSanitizer.page("/go?next=https://example.com/&utm_source=x")
        #expect(page?.path == "/go")
        #expect(page?.utm.source == "x")
    }

    @Test
    func malformedPercentEscapes_areKeptLiterally() {
        #expect(URLSanitizer.page("/x?utm_campaign=50%off")?.utm.campaign == "50%off")
        #expect(URLSanitizer.page("/x?utm_campaign=100%")?.utm.campaign == "100%")
        #expect(URLSanitizer.page("/x?utm_campaign=a%4")?.utm.campaign == "a%4")
    }

    @Test func percentEscapes_decodeToValidText() {
        // An escape that is not UTF-8 decodes to a replacement character, never to broken text.
        let value = URLSanitizer.page("/x?utm_source=%FF%FE")?.utm.source
        #expect(value == "\u{FFFD}\u{FFFD}")
    }
}

@Suite struct URLSanitizerReferrerTests {
    let site = "example.com"

    @Test func referrer_keepsTheHostOnly() {
        #expect(URLSanitizer.referrerHost("https://www.google.com/search?q=jane+doe+diagnosis", siteHost: site) == "www.google.com")
        #expect(URLSanitizer.referrerHost("https://news.ycombinator.com/item?id=1#c", siteHost: site) == "news.ycombinator.com")
        #expect(URLSanitizer.referrerHost("http://Blog.Other.ORG", siteHost: site) == "blog.other.org")
        #expect(URLSanitizer.referrerHost("https://t.co?x=1", siteHost: site) == "t.co")
    }

    @Test(arguments: ["https://example.com/", "https://www.example.com/pricing", "http://EXAMPLE.com", "https://example.com:8443/x",
                      "https://user@www.example.com/"])
    func selfReferrals_areDropped(raw: String) {
        #expect(URLSanitizer.referrerHost(raw, siteHost: site) == "")
    }

    @Test func selfReferral_isDropped_whenTheSiteHostHasWWW() {
        #expect(URLSanitizer.referrerHost("https://example.com/", siteHost: "www.example.com") == "")
        #expect(URLSanitizer.referrerHost("https://www.example.com/", siteHost: "www.example.com") == "")
    }

    @Test func subdomainsAndLookalikes_areNotSelfReferrals() {
        #expect(URLSanitizer.referrerHost("https://blog.example.com/", siteHost: site) == "blog.example.com")
        #expect(URLSanitizer.referrerHost("https://example.com.evil/", siteHost: site) == "example.com.evil")
        #expect(URLSanitizer.referrerHost("https://notexample.com/", siteHost: site) == "notexample.com")
    }

    @Test func userinfoAndPort_areDropped() {
        #expect(URLSanitizer.referrerHost("https://jane:hunter2@other.org:8080/private", siteHost: site) == "other.org")
        #expect(URLSanitizer.referrerHost("https://jane@other.org/", siteHost: site) == "other.org")
        #expect(URLSanitizer.referrerHost("http://other.org:80", siteHost: site) == "other.org")
    }

    @Test(arguments: ["", "-", "null", "about:blank", "other.org", "//other.org/", "javascript:alert(1)", "ftp://other.org/",
                      "android-app://com.google.android.gm/", "https://", "https:///x", "https://oth er.org/", "https://<script>/",
                      "https://" + String(repeating: "a", count: 300) + ".com/"])
    func junkReferrers_becomeEmpty(raw: String) {
        #expect(URLSanitizer.referrerHost(raw, siteHost: site) == "")
    }
}

@testable import FootfallModel
import Testing

@Suite struct UserAgentClassifierTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var label: String
        var userAgent: String
        var browser: String
        var major: UInt32
        var os: String
        var deviceClass: Device.Class
        var testDescription: String { label }
    }

    static let browsers: [Case] = [
        Case(label: "Chrome, Windows desktop",
             userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
             browser: "Chrome", major: 124, os: "Windows", deviceClass: .desktop),
        Case(label: "Chrome, macOS desktop",
             userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
             browser: "Chrome", major: 123, os: "macOS", deviceClass: .desktop),
        Case(label: "Chrome, Linux desktop",
             userAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
             browser: "Chrome", major: 124, os: "Linux", deviceClass: .desktop),
        Case(label: "Chrome, ChromeOS",
             userAgent: "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
             browser: "Chrome", major: 124, os: "ChromeOS", deviceClass: .desktop),
        Case(label: "Chrome, Android phone",
             userAgent: "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
             browser: "Chrome", major: 124, os: "Android", deviceClass: .mobile),
        Case(label: "Chrome, Android tablet",
             userAgent: "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
             browser: "Chrome", major: 124, os: "Android", deviceClass: .tablet),
        Case(label: "Chrome, iPhone",
             userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
             browser: "Chrome", major: 124, os: "iOS", deviceClass: .mobile),
        Case(label: "Chrome, iPad",
             userAgent: "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
             browser: "Chrome", major: 124, os: "iOS", deviceClass: .tablet),
        Case(label: "Firefox, Windows desktop",
             userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
             browser: "Firefox", major: 125, os: "Windows", deviceClass: .desktop),
        Case(label: "Firefox, macOS desktop",
             userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
             browser: "Firefox", major: 125, os: "macOS", deviceClass: .desktop),
        Case(label: "Firefox, Linux desktop",
             userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
             browser: "Firefox", major: 125, os: "Linux", deviceClass: .desktop),
        Case(label: "Firefox, Android phone",
             userAgent: "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0",
             browser: "Firefox", major: 125, os: "Android", deviceClass: .mobile),
        Case(label: "Firefox, Android tablet",
             userAgent: "Mozilla/5.0 (Android 14; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0",
             browser: "Firefox", major: 125, os: "Android", deviceClass: .tablet),
        Case(label: "Firefox, iPhone",
             userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/125.0 Mobile/15E148 Safari/605.1.15",
             browser: "Firefox", major: 125, os: "iOS", deviceClass: .mobile),
        Case(label: "Safari, macOS desktop",
             userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
             browser: "Safari", major: 17, os: "macOS", deviceClass: .desktop),
        Case(label: "Safari, iPhone",
             userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
             browser: "Safari", major: 17, os: "iOS", deviceClass: .mobile),
        Case(label: "Safari, iPad",
             userAgent: "Mozilla/5.0 (iPad; CPU OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
             browser: "Safari", major: 17, os: "iOS", deviceClass: .tablet),
        Case(label: "Safari, iPod touch",
             userAgent: "Mozilla/5.0 (iPod touch; CPU iPhone OS 15_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6.6 Mobile/15E148 Safari/604.1",
             browser: "Safari", major: 15, os: "iOS", deviceClass: .mobile),
        Case(label: "Edge, Windows desktop",
             userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
             browser: "Edge", major: 124, os: "Windows", deviceClass: .desktop),
        Case(label: "Edge, macOS desktop",
             userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
             browser: "Edge", major: 124, os: "macOS", deviceClass: .desktop),
        Case(label: "Edge, Android phone",
             userAgent: "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36 EdgA/124.0.2478.64",
             browser: "Edge", major: 124, os: "Android", deviceClass: .mobile),
        Case(label: "Edge, iPhone",
             userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 EdgiOS/124.2478.71 Mobile/15E148 Safari/605.1.15",
             browser: "Edge", major: 124, os: "iOS", deviceClass: .mobile),
        Case(label: "Opera, Windows desktop",
             userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/110.0.0.0",
             browser: "Opera", major: 110, os: "Windows", deviceClass: .desktop),
        Case(label: "Opera, Android phone",
             userAgent: "Mozilla/5.0 (Linux; Android 10; VOG-L29) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36 OPR/81.1.4292.78784",
             browser: "Opera", major: 81, os: "Android", deviceClass: .mobile),
        Case(label: "Samsung Internet, Android phone",
             userAgent: "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
             browser: "Samsung Internet", major: 24, os: "Android", deviceClass: .mobile),
        Case(label: "Samsung Internet, Android tablet",
             userAgent: "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Safari/537.36",
             browser: "Samsung Internet", major: 23, os: "Android", deviceClass: .tablet),
        Case(label: "Internet Explorer 11, Windows",
             userAgent: "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
             browser: "Internet Explorer", major: 0, os: "Windows", deviceClass: .desktop),
    ]

    @Test(arguments: browsers)
    func realBrowsers_areClassified(_ expected: Case) {
        let device = UserAgentClassifier.classify(expected.userAgent)
        #expect(device.browser == expected.browser)
        #expect(device.browserMajor == expected.major)
        #expect(device.os == expected.os)
        #expect(device.deviceClass == expected.deviceClass)
        #expect(!device.isBot)
    }

    static let bots: [String] = [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.201 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36",
        "curl/8.5.0",
        "Wget/1.21.4",
        "python-requests/2.31.0",
        "Python-urllib/3.11",
        "Go-http-client/1.1",
        "okhttp/4.12.0",
        "Java/17.0.10",
        "axios/1.6.8",
        "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 Safari/537.36 Chrome-Lighthouse",
        "Scrapy/2.11.1 (+https://scrapy.org)",
        "",
    ]

    @Test(arguments: bots)
    func botsAndScripts_areFlaggedAsBots(userAgent: String) {
        let device = UserAgentClassifier.classify(userAgent)
        #expect(device.isBot)
        #expect(device.deviceClass == .bot)
    }

    @Test func unknownClient_isNeitherABrowserWeKnowNorABot() {
        let device = UserAgentClassifier.classify("SomeCustomApp/1.0")
        #expect(device.browser == "Other")
        #expect(device.os == "Other")
        #expect(!device.isBot)
    }

    @Test func absurdVersionNumbers_doNotOverflow() {
        let device = UserAgentClassifier.classify("Mozilla/5.0 (X11; Linux x86_64) Chrome/99999999999999999999.0 Safari/537.36")
        #expect(device.browser == "Chrome")
        #expect(device.browserMajor == 999_999)
    }

    @Test
    func cubotPhone_isAHumanVisitor() {
        let device = UserAgentClassifier.classify("Mozilla/5.0 (Linux; Android 10; CUBOT_X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36")
        #expect(!device.isBot)
        #expect(device.browser == "Chrome")
        #expect(device.deviceClass == .mobile)
    }
}

/// Classifies a User-Agent header into browser family and major version, OS family, device class,
/// and whether it is a bot. The header itself is never stored.
public enum UserAgentClassifier {
    static let botMarkers = [
        "bot", "crawl", "spider", "slurp", "headless", "lighthouse", "curl/", "wget/", "python-requests",
        "python-urllib", "go-http-client", "java/", "okhttp", "facebookexternalhit", "bingpreview",
        "pingdom", "uptimerobot", "phantomjs", "selenium", "scrapy", "httpclient", "axios/", "node-fetch",
        "libwww", "monitor", "preview",
    ]

    /// Phone makers whose names contain a bot marker.
    static let humanNamesWithMarkers = ["cubot"]

    public static func classify(_ userAgent: String) -> Device {
        let ua = userAgent.lowercased()
        let probe = humanNamesWithMarkers.reduce(ua) { $0.replacingOccurrences(of: $1, with: "") }
        if ua.isEmpty || botMarkers.contains(where: { probe.contains($0) }) {
            return Device(browser: "Bot", os: "", deviceClass: .bot)
        }
        let (browser, major) = browserFamily(ua)
        let os = osFamily(ua)
        return Device(browser: browser, browserMajor: major, os: os, deviceClass: deviceClass(ua, os: os))
    }

    static func browserFamily(_ ua: String) -> (String, UInt32) {
        // Order matters: Edge and Opera also say "chrome", Chrome also says "safari".
        let families: [(marker: String, name: String)] = [
            ("edg/", "Edge"), ("edga/", "Edge"), ("edgios/", "Edge"), ("opr/", "Opera"), ("samsungbrowser/", "Samsung Internet"),
            ("yabrowser/", "Yandex"), ("vivaldi/", "Vivaldi"), ("firefox/", "Firefox"), ("fxios/", "Firefox"),
            ("crios/", "Chrome"), ("chromium/", "Chromium"), ("chrome/", "Chrome"), ("version/", "Safari"),
        ]
        for family in families {
            guard let range = ua.range(of: family.marker) else { continue }
            if family.marker == "version/" && !ua.contains("safari") { continue }
            let digits = ua[range.upperBound...].prefix(while: { $0.isNumber })
            return (family.name, UInt32(digits.prefix(6)) ?? 0)
        }
        if ua.contains("trident/") || ua.contains("msie ") { return ("Internet Explorer", 0) }
        return ("Other", 0)
    }

    static func osFamily(_ ua: String) -> String {
        if ua.contains("android") { return "Android" }
        if ua.contains("iphone") || ua.contains("ipad") || ua.contains("ipod") { return "iOS" }
        if ua.contains("windows") { return "Windows" }
        if ua.contains("mac os x") || ua.contains("macintosh") { return "macOS" }
        if ua.contains("cros") { return "ChromeOS" }
        if ua.contains("linux") || ua.contains("x11") { return "Linux" }
        return "Other"
    }

    static func deviceClass(_ ua: String, os: String) -> Device.Class {
        if ua.contains("ipad") || ua.contains("tablet") || (os == "Android" && !ua.contains("mobile")) { return .tablet }
        if ua.contains("mobi") || ua.contains("iphone") || ua.contains("ipod") { return .mobile }
        return .desktop
    }
}

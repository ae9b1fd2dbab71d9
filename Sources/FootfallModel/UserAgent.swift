/// Classifies a User-Agent header into browser family and major version, OS family, device class,
/// and whether it is a bot. The header itself is never stored.
///
/// Runs once per hit, so it searches lowercased ASCII bytes directly rather than through
/// Foundation's locale-aware string search (which took nearly half of ingest time).
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
        let ua = LowercasedASCII(userAgent)
        let probe = humanNamesWithMarkers.reduce(ua) { $0.blanking($1) }
        if ua.isEmpty || botMarkers.contains(where: { probe.contains($0) }) {
            return Device(browser: "Bot", os: "", deviceClass: .bot)
        }
        let (browser, major) = browserFamily(ua)
        let os = osFamily(ua)
        return Device(browser: browser, browserMajor: major, os: os, deviceClass: deviceClass(ua, os: os))
    }

    static func browserFamily(_ ua: LowercasedASCII) -> (String, UInt32) {
        // Order matters: Edge and Opera also say "chrome", Chrome also says "safari".
        let families: [(marker: String, name: String)] = [
            ("edg/", "Edge"), ("edga/", "Edge"), ("edgios/", "Edge"), ("opr/", "Opera"), ("samsungbrowser/", "Samsung Internet"),
            ("yabrowser/", "Yandex"), ("vivaldi/", "Vivaldi"), ("firefox/", "Firefox"), ("fxios/", "Firefox"),
            ("crios/", "Chrome"), ("chromium/", "Chromium"), ("chrome/", "Chrome"), ("version/", "Safari"),
        ]
        for family in families {
            guard let end = ua.endOfFirst(family.marker) else { continue }
            if family.marker == "version/" && !ua.contains("safari") { continue }
            var major: UInt32 = 0
            for byte in ua.bytes[end...].prefix(6) {
                guard byte >= 48 && byte <= 57 else { break }
                major = major * 10 + UInt32(byte - 48)
            }
            return (family.name, major)
        }
        if ua.contains("trident/") || ua.contains("msie ") { return ("Internet Explorer", 0) }
        return ("Other", 0)
    }

    static func osFamily(_ ua: LowercasedASCII) -> String {
        if ua.contains("android") { return "Android" }
        if ua.contains("iphone") || ua.contains("ipad") || ua.contains("ipod") { return "iOS" }
        if ua.contains("windows") { return "Windows" }
        if ua.contains("mac os x") || ua.contains("macintosh") { return "macOS" }
        if ua.contains("cros") { return "ChromeOS" }
        if ua.contains("linux") || ua.contains("x11") { return "Linux" }
        return "Other"
    }

    static func deviceClass(_ ua: LowercasedASCII, os: String) -> Device.Class {
        if ua.contains("ipad") || ua.contains("tablet") || (os == "Android" && !ua.contains("mobile")) { return .tablet }
        if ua.contains("mobi") || ua.contains("iphone") || ua.contains("ipod") { return .mobile }
        return .desktop
    }
}

/// A string's UTF-8 bytes with ASCII letters lowercased, searched for (lowercase ASCII) markers.
struct LowercasedASCII {
    let bytes: [UInt8]

    init(_ text: String) {
        bytes = text.utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    var isEmpty: Bool { bytes.isEmpty }

    func contains(_ marker: String) -> Bool { endOfFirst(marker) != nil }

    /// The index just past the first occurrence of `marker`, or nil.
    func endOfFirst(_ marker: String) -> Int? {
        let needle = Array(marker.utf8)
        guard !needle.isEmpty, bytes.count >= needle.count else { return nil }
        let first = needle[0]
        var i = 0
        while i <= bytes.count - needle.count {
            if bytes[i] == first {
                var j = 1
                while j < needle.count && bytes[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i + j }
            }
            i += 1
        }
        return nil
    }

    /// The same bytes with every occurrence of `marker` replaced by spaces.
    func blanking(_ marker: String) -> LowercasedASCII {
        var out = bytes
        var start = 0
        while let end = LowercasedASCII(bytes: Array(out[start...])).endOfFirst(marker) {
            let from = start + end - marker.utf8.count
            for k in from..<(start + end) { out[k] = 32 }
            start += end
        }
        return LowercasedASCII(bytes: out)
    }
}

import FootfallCrypto

/// Turns what a browser reports into dimensions that hold no personal data: a page keeps its path
/// and UTM parameters only (other query strings can carry emails, tokens or search terms); a
/// referrer keeps its host only.
public enum URLSanitizer {
    public static let pathLengthMax = 512
    public static let utmLengthMax = 128

    public struct PageURL: Hashable, Sendable {
        public var host: String
        public var path: String
        public var utm: UTM
    }

    /// Parses an absolute http(s) URL, or a bare path, into host, path and UTM parameters.
    public static func page(_ raw: String) -> PageURL? {
        var rest = Substring(raw)
        var host = ""
        if rest.utf8.first != UInt8(ascii: "/") {
            // Only an absolute URL may not start with "/"; a "://" later in a path's query is data.
            guard let (scheme, afterScheme) = splitScheme(rest), scheme == "http" || scheme == "https" else { return nil }
            rest = afterScheme
            let hostEnd = rest.utf8.firstIndex(where: isHostEnd) ?? rest.endIndex
            host = normalizeHost(rest[..<hostEnd])
            guard !host.isEmpty else { return nil }
            rest = rest[hostEnd...]
        }
        if let fragment = rest.utf8.firstIndex(of: UInt8(ascii: "#")) { rest = rest[..<fragment] }
        var query = Substring("")
        if let questionMark = rest.utf8.firstIndex(of: UInt8(ascii: "?")) {
            query = rest[rest.utf8.index(after: questionMark)...]
            rest = rest[..<questionMark]
        }
        var path = String(rest.isEmpty ? "/" : rest)
        if path.utf8.count > pathLengthMax { path = truncated(path, toUTF8Count: pathLengthMax) }
        return PageURL(host: host, path: path, utm: utm(fromQuery: query))
    }

    static func utm(fromQuery query: Substring) -> UTM {
        var utm = UTM()
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            let value = String(percentDecoded(parts[1]).prefix(utmLengthMax))
            switch parts[0].lowercased() {
            case "utm_source": utm.source = value
            case "utm_medium": utm.medium = value
            case "utm_campaign": utm.campaign = value
            case "utm_term": utm.term = value
            case "utm_content": utm.content = value
            default: continue
            }
        }
        return utm
    }

    /// The referrer's host, or "" for none, a malformed one, or the site referring to itself.
    public static func referrerHost(_ raw: String, siteHost: String) -> String {
        guard let (scheme, rest) = splitScheme(Substring(raw)), scheme == "http" || scheme == "https" else { return "" }
        let hostEnd = rest.utf8.firstIndex(where: isHostEnd) ?? rest.endIndex
        let host = normalizeHost(rest[..<hostEnd])
        if host.isEmpty || stripWWW(host) == stripWWW(siteHost) { return "" }
        return host
    }

    /// The longest prefix of whole characters that fits in `count` UTF-8 bytes.
    static func truncated(_ text: String, toUTF8Count count: Int) -> String {
        var used = 0
        var end = text.startIndex
        for character in text {
            let size = character.utf8.count
            if used + size > count { break }
            used += size
            end = text.index(after: end)
        }
        return String(text[..<end])
    }

    // URLs are split on their delimiters' bytes, not on `Character`s: each `Character` step is a
    // grapheme-break test (7 % of ingest CPU in a profile), and a delimiter followed by a combining
    // mark is one `Character` that equals no delimiter, so "?\u{301}" did not start the query
    // and the query stayed in the path. An ASCII delimiter's byte never occurs inside another
    // character's UTF-8, so every index found is a valid place to cut.

    /// The lowercased scheme before the first "://" and what follows it, or nil with none.
    static func splitScheme(_ text: Substring) -> (scheme: String, rest: Substring)? {
        let bytes = text.utf8
        var index = bytes.startIndex
        while let colon = bytes[index...].firstIndex(of: UInt8(ascii: ":")) {
            let after = bytes[bytes.index(after: colon)...]
            if after.starts(with: "//".utf8) {
                return (lowercased(text[..<colon]), text[bytes.index(colon, offsetBy: 3)...])
            }
            index = bytes.index(after: colon)
        }
        return nil
    }

    static func isHostEnd(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "/") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "#")
    }

    /// ASCII text lowercased byte by byte; other text as `lowercased()` does it (some non-ASCII
    /// letters lowercase to ASCII ones, the Kelvin sign to "k").
    static func lowercased(_ text: Substring) -> String {
        guard text.utf8.allSatisfy({ $0 < 0x80 }) else { return text.lowercased() }
        return String(decoding: text.utf8.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    static func normalizeHost(_ raw: Substring) -> String {
        var host = raw
        if let at = host.utf8.lastIndex(of: UInt8(ascii: "@")) { host = host[host.utf8.index(after: at)...] } // drop userinfo
        if let colon = host.utf8.lastIndex(of: UInt8(ascii: ":")), host.utf8.first != UInt8(ascii: "[") { host = host[..<colon] } // drop port
        let lowered = lowercased(host)
        guard lowered.utf8.count <= 253,
              lowered.utf8.allSatisfy({ $0 == 46 || $0 == 45 || ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 122) })
        else { return "" }
        return lowered
    }

    static func stripWWW(_ host: String) -> Substring {
        host.hasPrefix("www.") ? host.dropFirst(4) : Substring(host)
    }

    /// Decodes `%XX` escapes and `+`; a `%` not followed by two hex digits stays as it is.
    static func percentDecoded(_ text: Substring) -> String {
        let input = Array(text.utf8)
        var bytes = [UInt8]()
        var i = 0
        while i < input.count {
            let byte = input[i]
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), i + 2 < input.count,
                      let high = Hex.nibble(input[i + 1]), let low = Hex.nibble(input[i + 2]) {
                bytes.append(high << 4 | low)
                i += 2
            } else {
                bytes.append(byte)
            }
            i += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

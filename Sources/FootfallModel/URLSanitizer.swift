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
        if !rest.hasPrefix("/") {
            // Only an absolute URL may not start with "/"; a "://" later in a path's query is data.
            guard let schemeEnd = rest.range(of: "://") else { return nil }
            let scheme = rest[..<schemeEnd.lowerBound].lowercased()
            guard scheme == "http" || scheme == "https" else { return nil }
            rest = rest[schemeEnd.upperBound...]
            let hostEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
            host = normalizeHost(rest[..<hostEnd])
            guard !host.isEmpty else { return nil }
            rest = rest[hostEnd...]
        }
        if let fragment = rest.firstIndex(of: "#") { rest = rest[..<fragment] }
        var query = Substring("")
        if let questionMark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: questionMark)...]
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
        guard let schemeEnd = raw.range(of: "://") else { return "" }
        let scheme = raw[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return "" }
        let rest = raw[schemeEnd.upperBound...]
        let hostEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
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

    static func normalizeHost(_ raw: Substring) -> String {
        var host = raw
        if let at = host.lastIndex(of: "@") { host = host[host.index(after: at)...] } // drop userinfo
        if let colon = host.lastIndex(of: ":"), !host.hasPrefix("[") { host = host[..<colon] } // drop port
        let lowered = host.lowercased()
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

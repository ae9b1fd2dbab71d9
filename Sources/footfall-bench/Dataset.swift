import Foundation
import FootfallModel

/// A synthetic, seeded stream of pageview-like hits with skewed popularity: a few paths,
/// referrers and countries take most of the traffic, as on real sites.
struct Dataset {
    static let userAgents = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    ]
    static let countries = ["US", "DE", "GB", "FR", "IN", "BR", "JP", "CA", "NL", "ES", "IT", "PL", "SE", "AU", "MX", "KR", "TR",
                            "ID", "CH", "AT", "BE", "DK", "NO", "FI", "IE", "PT", "CZ", "RO", "HU", "GR", "IL", "ZA", "AR", "CL",
                            "CO", "NZ", "SG", "MY", "TH", "VN", "PH", "EG", "NG", "KE", "UA", "SK", "BG", "HR", "SI", "LT"]

    var generator: SplitMix64
    let paths: Int
    let referrers: Int
    let visitors: Int

    init(seed: UInt64, paths: Int = 1000, referrers: Int = 200, visitors: Int = 200_000) {
        generator = SplitMix64(seed: seed)
        self.paths = paths
        self.referrers = referrers
        self.visitors = visitors
    }

    /// An index in 0..<count, skewed towards small values (roughly Zipf with s = 1).
    mutating func skewed(_ count: Int) -> Int {
        let u = Double.random(in: 0..<1, using: &generator)
        return min(count - 1, Int(pow(Double(count + 1), u)) - 1)
    }

    struct Sample {
        var path: String
        var referrer: String
        var country: String
        var userAgent: String
        var visitor: UInt64
    }

    mutating func next() -> Sample {
        let referrer = Int.random(in: 0..<3, using: &generator) == 0 ? "https://ref\(skewed(referrers)).example/" : ""
        return Sample(path: "/page/\(skewed(paths))", referrer: referrer, country: Dataset.countries[skewed(Dataset.countries.count)],
                      userAgent: Dataset.userAgents[skewed(Dataset.userAgents.count)],
                      visitor: UInt64(Int.random(in: 0..<visitors, using: &generator)))
    }
}


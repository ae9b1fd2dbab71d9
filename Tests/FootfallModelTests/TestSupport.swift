@testable import FootfallModel

/// A site id known to be valid.
func site(_ name: String) -> SiteID {
    guard let id = SiteID(name) else { preconditionFailure("test site id \(name) is invalid") }
    return id
}

/// The i-th of a deterministic family of distinct visitor ids (multiplying by an odd constant is a
/// bijection on UInt64, and so is xor with the seed).
func visitor(_ i: Int, seed: UInt64 = 0) -> VisitorID {
    VisitorID(rawValue: UInt64(i) &* 0x9E37_79B9_7F4A_7C15 ^ seed)
}

/// 2024-05-01T00:00:00Z, a day index far from the epoch's clamping.
let may1st2024Ms: Int64 = 1_714_521_600_000
let may1st2024 = Day(containing: may1st2024Ms)

extension Int64 {
    static func minutes(_ n: Int64) -> Int64 { n * TimeUnits.minuteMs }
    static func seconds(_ n: Int64) -> Int64 { n * 1_000 }
    static func days(_ n: Int64) -> Int64 { n * TimeUnits.dayMs }
}

/// A point on a monotonic time line with an arbitrary origin, in nanoseconds.
///
/// Protocol state machines never read a clock: the shell passes `now` (from the process's
/// monotonic clock) and the simulator passes its own. Only differences between instants mean
/// anything, so a node's wall-clock skew never touches membership timing.
public struct MonotonicTime: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    /// A shell's millisecond reading; saturating.
    public init(milliseconds: Int64) {
        let (nanoseconds, overflow) = milliseconds.multipliedReportingOverflow(by: 1_000_000)
        self.nanoseconds = overflow ? (milliseconds < 0 ? .min : .max) : nanoseconds
    }

    public static let zero = MonotonicTime(nanoseconds: 0)

    /// `ms` later (earlier when negative); saturating, so a timer set far off is simply never due.
    public func advanced(byMs ms: Int64) -> MonotonicTime {
        let (sum, overflow) = nanoseconds.addingReportingOverflow(MonotonicTime(milliseconds: ms).nanoseconds)
        return overflow ? MonotonicTime(nanoseconds: ms < 0 ? .min : .max) : MonotonicTime(nanoseconds: sum)
    }

    /// Whole milliseconds from `earlier` to this instant (negative when it is later); saturating.
    public func milliseconds(since earlier: MonotonicTime) -> Int64 {
        let (difference, overflow) = nanoseconds.subtractingReportingOverflow(earlier.nanoseconds)
        return overflow ? (earlier.nanoseconds < 0 ? .max : .min) : difference / 1_000_000
    }

    public static func < (a: MonotonicTime, b: MonotonicTime) -> Bool { a.nanoseconds < b.nanoseconds }

    public static func + (time: MonotonicTime, duration: Duration) -> MonotonicTime {
        MonotonicTime(nanoseconds: time.nanoseconds + duration.nanoseconds)
    }

    public static func - (a: MonotonicTime, b: MonotonicTime) -> Duration {
        .nanoseconds(a.nanoseconds - b.nanoseconds)
    }

    public var description: String { "t+\(Double(nanoseconds) / 1e9)s" }
}

extension Duration {
    /// Whole nanoseconds; traps past about 292 years, far beyond any timeout this code is given
    /// (durations from settings are bounded where they are read).
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    public var seconds: Double { Double(nanoseconds) / 1e9 }

    /// This duration scaled by a real factor (Lifeguard's multipliers are not integers).
    public func scaled(by factor: Double) -> Duration {
        .nanoseconds(Int64((Double(nanoseconds) * factor).rounded()))
    }
}

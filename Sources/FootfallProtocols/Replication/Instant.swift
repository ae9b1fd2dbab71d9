extension Replication {
    /// The two clocks a replication core is handed (it reads none). The wall clock is for what is
    /// stored or compared across nodes and restarts: hint ages, acknowledgement times. The
    /// monotonic clock is for the core's own timers — write deadlines, replay and persist retries
    /// — which a step of the wall clock (NTP, an operator's `date -s`) must neither stretch by an
    /// hour nor fire all at once.
    public struct Instant: Sendable, Equatable {
        public var wallMs: Int64
        public var monotonic: MonotonicTime

        public init(wallMs: Int64, monotonic: MonotonicTime) {
            self.wallMs = wallMs
            self.monotonic = monotonic
        }

        /// `ms` from now on the monotonic clock (saturating).
        public func monotonic(afterMs ms: Int64) -> MonotonicTime { monotonic.advanced(byMs: ms) }

        /// The monotonic instant at which the wall clock, running on at the pace of time, reads
        /// `wallMs` (now, when it already has).
        public func monotonic(atWallMs wallMs: Int64) -> MonotonicTime {
            let (remaining, overflow) = wallMs.subtractingReportingOverflow(self.wallMs)
            return overflow ? (wallMs < 0 ? monotonic : .init(nanoseconds: .max)) : monotonic(afterMs: max(0, remaining))
        }
    }
}

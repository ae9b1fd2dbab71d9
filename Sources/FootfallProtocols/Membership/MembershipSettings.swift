extension Membership {
    /// Timing and fan-out of the membership protocol. Defaults follow HashiCorp memberlist's LAN
    /// profile (which implements Lifeguard) unless noted; all of them are per node and need not
    /// agree across the cluster.
    ///
    /// The probe timers run 2.5 times memberlist's: measured on three release nodes (20 kill -9s
    /// each, then a minute of HTTP load on 8 threads saturating both cores), a probe interval of
    /// 1 s took a median 6.3 s from kill to dead on every node, 500 ms 3.1 s, 400 ms 2.6 s (max 3.3 s),
    /// 350 ms 2.2 s, each with no suspicion under load (`make cluster-detect`, `--probe-ms`).
    public struct Settings: Hashable, Sendable {
        /// Time between the starts of two probes, before the local-health multiplier. Default
        /// 400 ms (memberlist: 1 s).
        public var probeInterval: Duration = .milliseconds(400)
        /// How long a direct ping waits for its ack before asking others, before the local-health
        /// multiplier. Default 200 ms (memberlist: 500 ms).
        public var probeTimeout: Duration = .milliseconds(200)
        /// Members asked to probe a target that did not answer a direct ping (SWIM's k). Default 3.
        public var indirectProbeCount: Int = 3
        /// How long a member asked to probe waits before it answers `nack`; shorter than
        /// `probeTimeout` so the nack reaches the requester within its probe period. Default 160 ms
        /// (memberlist: 400 ms).
        public var indirectNackTimeout: Duration = .milliseconds(160)
        /// Lifeguard's local-health ceiling: probe interval and timeout are multiplied by
        /// (score + 1), and the score stays within 0...this. Default 8.
        public var localHealthMax: Int = 8
        /// Minimum suspicion timeout = this × max(1, log10(n)) × probeInterval, n = known live
        /// members. Default 4.
        public var suspicionMultiplier: Double = 4
        /// Maximum suspicion timeout = this × the minimum; a suspicion without confirmations runs
        /// this long, and each independent confirmation shortens it logarithmically towards the
        /// minimum (Lifeguard). Default 6.
        public var suspicionMaxMultiplier: Double = 6
        /// Gossip is retransmitted this × ceil(log10(n + 1)) times. Default 4.
        public var retransmitMultiplier: Int = 4
        /// Updates piggybacked on one message at most. Default 8.
        public var piggybackMax: Int = 8
        /// Between full-state exchanges with one random member, dead ones included, which is how
        /// both sides of a healed partition find each other again. Default 15 s (memberlist: 30 s;
        /// shorter here because our state is a few hundred bytes and partitions heal sooner).
        public var fullSyncInterval: Duration = .seconds(15)

        public init() {}

        /// Problems that would make the protocol misbehave, in words an operator can act on.
        public func problems() -> [String] {
            var problems = [String]()
            if probeInterval <= .zero { problems.append("probe interval must be positive") }
            if probeTimeout <= .zero || probeTimeout >= probeInterval {
                problems.append("probe timeout must be positive and shorter than the probe interval")
            }
            if indirectNackTimeout <= .zero || indirectNackTimeout > probeTimeout {
                problems.append("indirect nack timeout must be positive and at most the probe timeout")
            }
            if indirectProbeCount < 0 { problems.append("indirect probe count must not be negative") }
            if localHealthMax < 0 { problems.append("local health maximum must not be negative") }
            if suspicionMultiplier < 1 || suspicionMaxMultiplier < 1 {
                problems.append("suspicion multipliers must be at least 1")
            }
            if retransmitMultiplier < 1 || piggybackMax < 1 {
                problems.append("retransmit multiplier and piggyback maximum must be at least 1")
            }
            if fullSyncInterval <= probeInterval { problems.append("full sync interval must exceed the probe interval") }
            return problems
        }
    }
}

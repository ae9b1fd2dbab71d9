import FootfallCrypto
import FootfallModel

extension Replication.AntiEntropy {
    /// Sites per `summaries` exchange: a pass compares this many sites with a peer in one call.
    public static let summaryBatch = 500
    /// Windows a replica summarises at most in one call (a peer's request is refused beyond).
    public static let summaryWindowsMax = 1_000

    /// What of a site two replicas compare: its erasures and CRM records whole, its events in
    /// [fromMs, untilMs).
    public struct Window: Hashable, Sendable {
        public let site: SiteID
        public let fromMs: Int64
        public let untilMs: Int64

        public init(site: SiteID, fromMs: Int64, untilMs: Int64) {
            self.site = site
            self.fromMs = fromMs
            self.untilMs = untilMs
        }
    }

    /// One number for what a replica holds of a site in a window — its erasure orders, the
    /// digest tree of its events, its CRM edit digests — equal on two replicas that hold alike,
    /// and on two that do not only by chance (odds about 2⁻⁶⁴), so a pass compares a page of sites with one call per peer and
    /// runs `repair` only for those that differ: a node of 100,000 small sites made six calls per
    /// site and peer otherwise, most of them to learn that nothing differed.
    ///
    /// Each part is a set: its elements are hashed and added up, so the number depends neither
    /// on the order they are read in nor on how they are paged.
    public struct SiteSummary: Sendable {
        private struct SetSum {
            var count: UInt64 = 0
            var sum: UInt64 = 0

            mutating func insert(_ hash: UInt64) {
                count &+= 1
                sum &+= SplitMix64.finalize(hash)
            }

            var bytes: [UInt8] { count.bigEndianBytes + sum.bigEndianBytes }
        }

        private var erasures = SetSum(), slices = SetSum(), visitorRecords = SetSum()

        public init() {}

        public mutating func insert(erasures orders: [Replication.ErasureOrder]) {
            for order in orders {
                let bytes = order.visitor.rawValue.bigEndianBytes + order.fenceMs.bigEndianBytes + Array(order.requestID.utf8)
                erasures.insert(UInt64(bigEndianBytes: Crypto.sha256(bytes).prefix(8)))
            }
        }

        /// A digest tree (`Query.digests`); empty slices count as absent, as `repair`
        /// takes them.
        public mutating func insert(tree: [Day: [EventSetDigest]]) {
            for (day, digests) in tree {
                for (slice, digest) in digests.enumerated() where digest != EventSetDigest() {
                    let position = UInt64(day.index) << 8 | UInt64(truncatingIfNeeded: slice)
                    slices.insert(SplitMix64.finalize(SplitMix64.finalize(position) &+ digest.count) &+ digest.hash)
                }
            }
        }

        /// A page of CRM edit digests (`Query.visitorEditDigests`).
        public mutating func insert(visitorRecords digests: [VisitorEditDigest]) {
            for digest in digests { visitorRecords.insert(SplitMix64.finalize(digest.visitor.rawValue) &+ digest.digest) }
        }

        public var value: UInt64 {
            UInt64(bigEndianBytes: Crypto.sha256(erasures.bytes + slices.bytes + visitorRecords.bytes).prefix(8))
        }
    }

    /// The windows whose site both replicas summarised alike (`ours` and `theirs` in the order of
    /// `windows`): those need no `repair` with that replica. None when a replica gave no
    /// summaries (a peer of an earlier version) or not one per window.
    public static func agreeing(_ windows: [Window], ours: [UInt64]?, theirs: [UInt64]?) -> [Window] {
        guard let ours, let theirs, ours.count == windows.count, theirs.count == windows.count else { return [] }
        return windows.indices.filter { ours[$0] == theirs[$0] }.map { windows[$0] }
    }
}

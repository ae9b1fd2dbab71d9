import FootfallModel

/// What anti-entropy lists from a replica in pages, ordered by its key: a day's event ids, a
/// site's CRM digests.
public protocol Listed: Hashable, Sendable {
    associatedtype Key: Comparable & Sendable
    var key: Key { get }
}

extension EventID: Listed {
    public var key: EventID { self }
}

/// The digest of the owner edits that rebuild a visitor's CRM record (`VisitorEdit.digest`).
public struct VisitorEditDigest: Listed {
    public let visitor: VisitorID
    public let digest: UInt64

    public init(visitor: VisitorID, digest: UInt64) {
        self.visitor = visitor
        self.digest = digest
    }

    public var key: VisitorID { visitor }
}

extension Replication.AntiEntropy {
    /// Entries per page a listing asks for: ids or CRM digests, some 1 MB on the wire, well below
    /// the message limit.
    public static let pageMax = 50_000

    /// A page of a listing, in key order.
    public struct Page<Element: Listed>: Hashable, Sendable {
        public var elements: [Element]
        /// More follow the last of `elements`.
        public var more: Bool

        public init(_ elements: [Element], more: Bool) {
            self.elements = elements
            self.more = more
        }
    }

    /// A replica's page whose keys do not increase past the cursor: listing on could loop for ever.
    public struct MalformedPage: Error, CustomStringConvertible {
        public let replica: String
        public var description: String { "\(replica) sent a page out of order" }
    }

    /// One replica's listing as a session reads it, a page at a time: the pages come in as
    /// answers, so the cursor holds no I/O.
    struct Listing<Element: Listed>: Sendable {
        let replica: String
        /// Listed and not compared yet, in increasing key order.
        private(set) var buffered = [Element]()
        /// The last key listed: the next page starts after it (nil: from the first).
        private(set) var after: Element.Key?
        /// The replica has listed its last entry.
        private var exhausted = false

        init(replica: String) { self.replica = replica }

        /// Everything listed was compared and more may follow: the next page is wanted.
        var needsPage: Bool { buffered.isEmpty && !exhausted }
        var isFinished: Bool { exhausted && buffered.isEmpty }
        /// The last key listed while more may follow: every entry up to it is listed.
        var listedThrough: Element.Key? { exhausted ? nil : buffered.last?.key }

        /// Takes in the page that follows `after`.
        mutating func receive(_ page: Page<Element>) throws {
            // A peer's page is checked before it is trusted: keys that do not move the cursor on
            // would list the same page for ever. (Its length is bounded by the message limit.)
            var previous = after
            for element in page.elements {
                guard previous.map({ $0 < element.key }) ?? true else { throw MalformedPage(replica: replica) }
                previous = element.key
            }
            buffered = page.elements
            after = page.elements.last?.key ?? after
            exhausted = !page.more || page.elements.isEmpty
        }

        /// Removes and returns the listed entries up to `bound`, all of them when nil.
        mutating func take(through bound: Element.Key?) -> [Element] {
            let end = bound.map { bound in buffered.firstIndex { $0.key > bound } ?? buffered.count } ?? buffered.count
            defer { buffered.removeFirst(end) }
            return Array(buffered[..<end])
        }
    }

    /// Two replicas' listings read in step: each stretch both have listed in full is compared
    /// as soon as it is, so at most two pages are held and each listing is read once.
    struct ListingPair<Element: Listed>: Sendable {
        var mine: Listing<Element>
        var theirs: Listing<Element>

        init(local: String, remote: String) {
            mine = Listing(replica: local)
            theirs = Listing(replica: remote)
        }

        /// What the walk needs next.
        enum Next {
            /// A page from this side, after this key.
            case page(Side, after: Element.Key?)
            /// Both sides' entries up to the same key, to compare.
            case stretch(mine: [Element], theirs: [Element])
            case finished
        }

        mutating func next() -> Next {
            if mine.needsPage { return .page(.local, after: mine.after) }
            if theirs.needsPage { return .page(.remote, after: theirs.after) }
            if mine.isFinished && theirs.isFinished { return .finished }
            // Both have listed every key up to the lower of the last keys a side still listing
            // holds (everything, once neither is).
            let bound = [mine.listedThrough, theirs.listedThrough].compactMap { $0 }.min()
            return .stretch(mine: mine.take(through: bound), theirs: theirs.take(through: bound))
        }

        mutating func receive(_ page: Page<Element>, from side: Side) throws {
            switch side {
            case .local: try mine.receive(page)
            case .remote: try theirs.receive(page)
            }
        }
    }
}

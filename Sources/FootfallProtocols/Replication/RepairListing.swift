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

    /// One replica's listing, read a page at a time.
    struct Listing<Element: Listed> {
        let replica: String
        /// The page after a key (nil: the first).
        let page: (Element.Key?) async throws -> Page<Element>
        /// Listed and not compared yet, in increasing key order.
        private(set) var buffered = [Element]()
        /// The last key listed.
        private var after: Element.Key?
        /// The replica has listed its last entry.
        private var exhausted = false

        init(replica: String, page: @escaping (Element.Key?) async throws -> Page<Element>) {
            self.replica = replica
            self.page = page
        }

        var isFinished: Bool { exhausted && buffered.isEmpty }
        /// The last key listed while more may follow: every entry up to it is listed.
        var listedThrough: Element.Key? { exhausted ? nil : buffered.last?.key }

        /// Reads the next page once everything listed was compared.
        mutating func fill() async throws {
            guard buffered.isEmpty, !exhausted else { return }
            let next = try await page(after)
            // A peer's page is checked before it is trusted: keys that do not move the cursor on
            // would list the same page for ever. (Its length is bounded by the message limit.)
            var previous = after
            for element in next.elements {
                guard previous.map({ $0 < element.key }) ?? true else { throw MalformedPage(replica: replica) }
                previous = element.key
            }
            buffered = next.elements
            after = next.elements.last?.key ?? after
            exhausted = !next.more || next.elements.isEmpty
        }

        /// Removes and returns the listed entries up to `bound`, all of them when nil.
        mutating func take(through bound: Element.Key?) -> [Element] {
            let end = bound.map { bound in buffered.firstIndex { $0.key > bound } ?? buffered.count } ?? buffered.count
            defer { buffered.removeFirst(end) }
            return Array(buffered[..<end])
        }
    }

    /// Reads two replicas' listings in step and hands `compare` each stretch both have listed
    /// in full: at most two pages are held, and each listing is read once.
    static func walk<Element>(_ mine: inout Listing<Element>, _ theirs: inout Listing<Element>,
                              _ compare: ([Element], [Element]) async throws -> Void) async throws {
        while true {
            try await mine.fill()
            try await theirs.fill()
            guard !(mine.isFinished && theirs.isFinished) else { return }
            // Both have listed every key up to the lower of the last keys a side still listing
            // holds (everything, once neither is).
            let bound = [mine.listedThrough, theirs.listedThrough].compactMap { $0 }.min()
            try await compare(mine.take(through: bound), theirs.take(through: bound))
        }
    }
}

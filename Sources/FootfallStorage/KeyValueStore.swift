import FootfallModel

/// The column families of a Footfall node (see `StorageKeys` for their key layouts).
public enum ColumnFamily: String, CaseIterable, Sendable {
    /// `visits` is empty: earlier versions kept visit records there (`VisitRecordsRemoval` deletes
    /// them). It stays a family because RocksDB opens every family a store has.
    case events, visitors, visits, rollups, erasures, crm, hints, system
    /// Sealed event segments (`EventSegment`): a settled day's events, column by column.
    case segments

    /// Only rollups merge: their operands are `RollupCell`s.
    public var merges: Bool { self == .rollups }
}

/// Writes that land together or not at all.
public struct WriteBatch: Sendable {
    public enum Operation: Sendable, Equatable {
        case put(ColumnFamily, key: [UInt8], value: [UInt8])
        case merge(ColumnFamily, key: [UInt8], operand: [UInt8])
        case delete(ColumnFamily, key: [UInt8])
        /// Deletes keys in [start, end).
        case deleteRange(ColumnFamily, start: [UInt8], end: [UInt8])
    }

    public private(set) var operations: [Operation] = []
    public init() {}

    public var isEmpty: Bool { operations.isEmpty }
    public mutating func put(_ family: ColumnFamily, _ key: [UInt8], _ value: [UInt8]) {
        operations.append(.put(family, key: key, value: value))
    }
    public mutating func merge(_ family: ColumnFamily, _ key: [UInt8], _ operand: [UInt8]) {
        precondition(family.merges, "merge into \(family), which has no merge operator")
        operations.append(.merge(family, key: key, operand: operand))
    }
    public mutating func delete(_ family: ColumnFamily, _ key: [UInt8]) {
        operations.append(.delete(family, key: key))
    }
    public mutating func deleteRange(_ family: ColumnFamily, _ start: [UInt8], _ end: [UInt8]) {
        operations.append(.deleteRange(family, start: start, end: end))
    }
}

/// The storage contract: an ordered key-value store with column families, atomic batches, a merge
/// operator for rollups, range scans in both directions and compaction. `RocksDBStore` is the
/// real one; `InMemoryStore` is for fast unit tests, and one contract suite runs against both.
public protocol KeyValueStore: AnyObject, Sendable {
    func get(_ family: ColumnFamily, _ key: [UInt8]) throws -> [UInt8]?
    /// `sync` waits for the write-ahead log to reach the disk before returning.
    func write(_ batch: WriteBatch, sync: Bool) throws
    /// Visits keys in [start, end) in order (or reverse order) until `body` returns false.
    func scan(_ family: ColumnFamily, from start: [UInt8], to end: [UInt8], reverse: Bool,
              _ body: (_ key: [UInt8], _ value: [UInt8]) throws -> Bool) throws
    /// Rewrites the files that hold [start, end), so deleted data is physically gone.
    func compact(_ family: ColumnFamily, from start: [UInt8], to end: [UInt8]) throws
    /// Bytes of live files, for metrics.
    func approximateSize(_ family: ColumnFamily) -> UInt64
}

extension KeyValueStore {
    public func scan(_ family: ColumnFamily, prefix: [UInt8], reverse: Bool = false,
                     _ body: (_ key: [UInt8], _ value: [UInt8]) throws -> Bool) throws {
        try scan(family, from: prefix, to: StorageKeys.prefixEnd(prefix), reverse: reverse, body)
    }

    public func scan(_ family: ColumnFamily, from start: [UInt8], to end: [UInt8],
                     _ body: (_ key: [UInt8], _ value: [UInt8]) throws -> Bool) throws {
        try scan(family, from: start, to: end, reverse: false, body)
    }
}

public struct StorageError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

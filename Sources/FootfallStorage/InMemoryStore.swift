import FootfallModel
import Synchronization

/// A `KeyValueStore` in memory: sorted arrays per column family behind one lock. For unit tests
/// beside the real RocksDB store, never instead of it.
public final class InMemoryStore: KeyValueStore {
    private struct Family {
        var keys: [[UInt8]] = []
        var values: [[UInt8]] = []

        func index(of key: [UInt8]) -> (found: Bool, at: Int) {
            var low = 0, high = keys.count
            while low < high {
                let mid = (low + high) / 2
                if keys[mid].lexicographicallyPrecedes(key) { low = mid + 1 } else { high = mid }
            }
            return (low < keys.count && keys[low] == key, low)
        }

        mutating func put(_ key: [UInt8], _ value: [UInt8]) {
            let (found, at) = index(of: key)
            if found { values[at] = value } else { keys.insert(key, at: at); values.insert(value, at: at) }
        }

        mutating func delete(_ key: [UInt8]) {
            let (found, at) = index(of: key)
            if found { keys.remove(at: at); values.remove(at: at) }
        }
    }

    private let families = Mutex([ColumnFamily: Family]())

    public init() {}

    public func get(_ family: ColumnFamily, _ key: [UInt8]) throws -> [UInt8]? {
        families.withLock { all in
            guard let f = all[family] else { return nil }
            let (found, at) = f.index(of: key)
            return found ? f.values[at] : nil
        }
    }

    public func write(_ batch: WriteBatch, sync: Bool) throws {
        families.withLock { all in
            for operation in batch.operations {
                switch operation {
                case let .put(family, key, value):
                    all[family, default: Family()].put(key, value)
                case let .merge(family, key, operand):
                    var f = all[family, default: Family()]
                    let (found, at) = f.index(of: key)
                    f.put(key, RollupPack.mergeEncoded(existing: found ? f.values[at] : nil, operands: [operand]))
                    all[family] = f
                case let .delete(family, key):
                    all[family]?.delete(key)
                case let .deleteRange(family, start, end):
                    guard var f = all[family] else { continue }
                    let from = f.index(of: start).at
                    let to = max(from, f.index(of: end).at)
                    f.keys.removeSubrange(from..<to)
                    f.values.removeSubrange(from..<to)
                    all[family] = f
                }
            }
        }
    }

    public func scan(_ family: ColumnFamily, from start: [UInt8], to end: [UInt8], reverse: Bool,
                     _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        // Copy the range out so `body` may write to the store.
        let (keys, values) = families.withLock { all -> ([[UInt8]], [[UInt8]]) in
            guard let f = all[family] else { return ([], []) }
            let from = f.index(of: start).at
            let to = max(from, f.index(of: end).at)
            return (Array(f.keys[from..<to]), Array(f.values[from..<to]))
        }
        let order = reverse ? Array(keys.indices.reversed()) : Array(keys.indices)
        for i in order where try !body(keys[i], values[i]) { return }
    }

    public func compact(_ family: ColumnFamily, from start: [UInt8], to end: [UInt8]) throws {}

    public func approximateSize(_ family: ColumnFamily) -> UInt64 {
        families.withLock { all in
            guard let f = all[family] else { return 0 }
            return UInt64(f.keys.reduce(0) { $0 + $1.count } + f.values.reduce(0) { $0 + $1.count })
        }
    }
}

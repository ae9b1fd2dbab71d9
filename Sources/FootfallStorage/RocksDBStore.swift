import CRocksDB
#if canImport(Glibc)
import Glibc
#endif
import FootfallModel

/// The real `KeyValueStore`: RocksDB through its C API, one column family per `ColumnFamily`.
///
/// Durability: every batch goes to the write-ahead log; with `sync: true` the WAL is fsynced before
/// `write` returns, so an acknowledged batch survives a process kill and a power loss.
public final class RocksDBStore: KeyValueStore, @unchecked Sendable {
    public struct Settings: Sendable {
        /// Block compression. ZSTD by default: events compress several-fold and disk is the budget.
        /// Tests that scan the files for bytes turn it off.
        public var compression: Compression = .zstd
        /// LRU block cache shared by all families.
        public var blockCacheBytes: Int = 64 << 20
        /// Memtable size per family before it is flushed.
        public var writeBufferBytes: Int = 32 << 20
        /// Free space kept on the data disk: below it, batches that only add data are refused
        /// (`DiskReserve`), so that RocksDB's own files (a new write-ahead log is preallocated at
        /// 1.1 write buffers, flushes and compactions write before they delete) never meet a
        /// full disk. They must not: when the switch to a new log fails for space, Debian's
        /// RocksDB 7.8 aborts the process at the next write (`AssertFalseAndGetStatusForPrevError`,
        /// fixed upstream in 9.1, PR 12448), which no check on this side can prevent
        /// (Tests/Durability/disk_full_test.py shows both).
        public var diskReserveBytes: Int64 = 1 << 30
        /// Called with RocksDB's message when it finds its files damaged (a checksum mismatch, a
        /// torn table file), on opening or on any read or write, before the error is thrown: the
        /// node stops there (`DataCorruption`) rather than answer from data it cannot trust.
        public var onCorruption: (@Sendable (String) -> Void)?
        public init() {}

        public enum Compression: Sendable {
            case none, lz4, zstd
            var code: Int32 {
                switch self {
                case .none: Int32(rocksdb_no_compression)
                case .lz4: Int32(rocksdb_lz4_compression)
                case .zstd: Int32(rocksdb_zstd_compression)
                }
            }
        }
    }

    public let path: String
    // All handles are owned here, created in init and destroyed in `close`; RocksDB's handles are
    // thread-safe, which is why this class can be shared across tasks.
    private var db: OpaquePointer?
    /// Every operation holds it shared and `close` exclusively: a close waits for what is in flight
    /// (an erasure's purge compacting in the background, say) instead of freeing the database
    /// under it, and what comes after finds the store closed.
    private let gate = ReadWriteLock()
    private var handles: [ColumnFamily: OpaquePointer] = [:]
    private let options: OpaquePointer
    private var familyOptions: [OpaquePointer]
    private let tableOptions: OpaquePointer
    private let bulkTableOptions: OpaquePointer
    private let cache: OpaquePointer
    private let readOptions: OpaquePointer
    private let syncWrite: OpaquePointer
    private let asyncWrite: OpaquePointer
    private let reserve: DiskReserve
    private let onCorruption: (@Sendable (String) -> Void)?

    public init(path: String, settings: Settings = Settings()) throws {
        self.path = path
        reserve = DiskReserve(path: path, bytes: settings.diskReserveBytes)
        onCorruption = settings.onCorruption
        let dbOptions = rocksdb_options_create()!
        options = dbOptions
        rocksdb_options_set_create_if_missing(dbOptions, 1)
        rocksdb_options_set_create_missing_column_families(dbOptions, 1)
        rocksdb_options_increase_parallelism(dbOptions, 2)
        rocksdb_options_set_max_background_jobs(dbOptions, 2)
        // Bound the WAL so old log files (which hold deleted data until recycled) do not linger.
        rocksdb_options_set_max_total_wal_size(dbOptions, 64 << 20)
        // The MANIFEST lists each table file's first and last key until it rolls over (default
        // 1 GiB of edits): keep it small so keys of deleted data do not linger in it for long.
        rocksdb_options_set_max_manifest_file_size(dbOptions, 4 << 20)

        let blockCache = rocksdb_cache_create_lru(settings.blockCacheBytes)!
        cache = blockCache
        let table = RocksDBStore.tableOptions(cache: blockCache, blockBytes: 4096)
        tableOptions = table
        // Segments and rollups are most of the disk and are read a range or a whole value at a
        // time, never looked up row by row: bigger blocks compress better there (16 KiB stored
        // 0.97 × of 4 KiB's bytes of each, `sst_dump --command=recompress` on a 5 M-event store).
        let bulkTable = RocksDBStore.tableOptions(cache: blockCache, blockBytes: 16 << 10)
        bulkTableOptions = bulkTable

        var names: [UnsafeMutablePointer<CChar>?] = []
        var perFamily: [OpaquePointer?] = []
        let families = ["default"] + ColumnFamily.allCases.map(\.rawValue)
        for name in families {
            perFamily.append(RocksDBStore.familyOptions(name, base: dbOptions, table: table, bulkTable: bulkTable, settings: settings))
            names.append(strdup(name))
        }
        defer { names.forEach { free($0) } }

        var cfHandles = [OpaquePointer?](repeating: nil, count: families.count)
        var error: UnsafeMutablePointer<CChar>?
        let constNames = names.map { UnsafePointer($0) }
        familyOptions = perFamily.map { $0! }
        let opened = constNames.withUnsafeBufferPointer { namePointers in
            perFamily.withUnsafeBufferPointer { optionPointers in
                rocksdb_open_column_families(dbOptions, path, Int32(families.count), namePointers.baseAddress,
                                             optionPointers.baseAddress, &cfHandles, &error)
            }
        }
        db = opened
        readOptions = rocksdb_readoptions_create()
        syncWrite = rocksdb_writeoptions_create()
        rocksdb_writeoptions_set_sync(syncWrite, 1)
        asyncWrite = rocksdb_writeoptions_create()
        if let error {
            let message = String(cString: error)
            rocksdb_free(error)
            release()
            if DataCorruption.isCorruption(message) { onCorruption?(message) }
            throw StorageError("cannot open RocksDB at \(path): \(message)")
        }
        for (index, family) in ColumnFamily.allCases.enumerated() { handles[family] = cfHandles[index + 1] }
        // The default family is unused but must stay open; keep its handle with the others.
        defaultHandle = cfHandles[0]
    }

    /// One column family's options: the database's, with its table (bigger blocks and a slower
    /// zstd at rest for segments and rollups), memtable filter, compaction trigger and merge
    /// operator.
    private static func familyOptions(_ name: String, base: OpaquePointer, table: OpaquePointer, bulkTable: OpaquePointer,
                                      settings: Settings) -> OpaquePointer {
        let o = rocksdb_options_create_copy(base)!
        rocksdb_options_set_compression(o, settings.compression.code)
        let bulk = name == ColumnFamily.segments.rawValue || name == ColumnFamily.rollups.rawValue
        rocksdb_options_set_block_based_table_factory(o, bulk ? bulkTable : table)
        if bulk, settings.compression == .zstd {
            // Where their data comes to rest, a slower zstd level: hits do not write these
            // families (sealing and rollup builds do, in the background), and level 9 with the
            // bigger blocks stores segments and rollups in 0.95 × and 0.94 × of level 3's bytes.
            rocksdb_options_set_bottommost_compression(o, settings.compression.code)
            rocksdb_options_set_bottommost_compression_options(o, -14, 9, 0, 0, 1)
        }
        rocksdb_options_set_write_buffer_size(o, settings.writeBufferBytes)
        rocksdb_options_set_level_compaction_dynamic_level_bytes(o, 1)
        if name == ColumnFamily.events.rawValue {
            // Every hit first looks its id up here, and nearly all are new: a bloom filter
            // over the memtable's whole keys answers those misses without searching its
            // skip list.
            rocksdb_options_set_memtable_whole_key_filtering(o, 1)
            rocksdb_options_set_memtable_prefix_bloom_size_ratio(o, 0.05)
        }
        if name == ColumnFamily.events.rawValue || name == ColumnFamily.visitors.rawValue {
            // These take a row or two per hit and keep them only until the day is sealed. While
            // a store is young its base level is the last one, and each L0 merge rewrote all of
            // it: 18 merges of ~70 MB to flush 130 MB in a ten-minute soak (write amplification
            // 9.3, a tenth of the node's CPU). Twice the L0 files per merge halve that; reads
            // pass their bloom filters, held in the cache.
            rocksdb_options_set_level0_file_num_compaction_trigger(o, 8)
        }
        if name == ColumnFamily.rollups.rawValue {
            rocksdb_options_set_merge_operator(o, RocksDBStore.makeRollupMergeOperator())
        }
        return o
    }

    /// Table options over the shared block cache, each with its own bloom filter policy (the
    /// table options take ownership of it).
    private static func tableOptions(cache: OpaquePointer, blockBytes: Int) -> OpaquePointer {
        let table = rocksdb_block_based_options_create()!
        rocksdb_block_based_options_set_block_size(table, blockBytes)
        rocksdb_block_based_options_set_block_cache(table, cache)
        rocksdb_block_based_options_set_filter_policy(table, rocksdb_filterpolicy_create_bloom_full(10))
        rocksdb_block_based_options_set_cache_index_and_filter_blocks(table, 1)
        // A big table file's whole filter or index block is megabytes: with 10 M events behind a
        // 64 MiB cache, each hit's duplicate check (a lookup of a key that is not there) read
        // such blocks back from disk (perf: a third of ingest in Get, most of it copying file
        // pages). Partitioned, they load in 4 KiB pieces, and only their top level stays pinned.
        rocksdb_block_based_options_set_index_type(table, Int32(rocksdb_block_based_table_index_type_two_level_index_search))
        rocksdb_block_based_options_set_partition_filters(table, 1)
        rocksdb_block_based_options_set_metadata_block_size(table, 4096)
        rocksdb_block_based_options_set_cache_index_and_filter_blocks_with_high_priority(table, 1)
        rocksdb_block_based_options_set_pin_top_level_index_and_filter(table, 1)
        rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(table, 1)
        return table
    }

    private var defaultHandle: OpaquePointer?

    deinit { close() }

    public var isOpen: Bool { gate.reading { db != nil } }

    /// Closes the database; later calls fail. Safe to call twice.
    public func close() {
        gate.writing {
            guard let db else { return }
            for handle in handles.values { rocksdb_column_family_handle_destroy(handle) }
            if let defaultHandle { rocksdb_column_family_handle_destroy(defaultHandle) }
            handles = [:]
            rocksdb_close(db)
            self.db = nil
            release()
        }
    }

    private func release() {
        familyOptions.forEach { rocksdb_options_destroy($0) }
        familyOptions = []
        rocksdb_options_destroy(options)
        rocksdb_block_based_options_destroy(tableOptions)
        rocksdb_block_based_options_destroy(bulkTableOptions)
        rocksdb_cache_destroy(cache)
        rocksdb_readoptions_destroy(readOptions)
        rocksdb_writeoptions_destroy(syncWrite)
        rocksdb_writeoptions_destroy(asyncWrite)
    }

    private func handle(_ family: ColumnFamily) throws -> (OpaquePointer, OpaquePointer) {
        guard let db, let handle = handles[family] else { throw StorageError("RocksDB at \(path) is closed") }
        return (db, handle)
    }

    private func check(_ error: UnsafeMutablePointer<CChar>?, _ what: String) throws {
        guard let error else { return }
        let message = String(cString: error)
        rocksdb_free(error)
        if DataCorruption.isCorruption(message) { onCorruption?(message) }
        throw StorageError("RocksDB \(what) failed: \(message)")
    }

    public func get(_ family: ColumnFamily, _ key: [UInt8]) throws -> [UInt8]? {
        return try gate.reading {
            let (db, cf) = try handle(family)
            var length = 0
            var error: UnsafeMutablePointer<CChar>?
            let value = key.withUnsafeBufferPointer { k in
                k.withMemoryRebound(to: CChar.self) { rocksdb_get_cf(db, readOptions, cf, $0.baseAddress, key.count, &length, &error) }
            }
            try check(error, "get")
            guard let value else { return nil }
            defer { rocksdb_free(value) }
            return Array(UnsafeRawBufferPointer(start: value, count: length))
        }
    }

    public func write(_ batch: WriteBatch, sync: Bool) throws {
        try gate.reading {
            guard let db else { throw StorageError("RocksDB at \(path) is closed") }
            try reserve.admit(batch)
            let native = rocksdb_writebatch_create()
            defer { rocksdb_writebatch_destroy(native) }
            for operation in batch.operations {
                switch operation {
                case let .put(family, key, value):
                    let cf = try handle(family).1
                    key.withCChars { k in value.withCChars { v in rocksdb_writebatch_put_cf(native, cf, k, key.count, v, value.count) } }
                case let .merge(family, key, operand):
                    let cf = try handle(family).1
                    key.withCChars { k in operand.withCChars { v in rocksdb_writebatch_merge_cf(native, cf, k, key.count, v, operand.count) } }
                case let .delete(family, key):
                    let cf = try handle(family).1
                    key.withCChars { k in rocksdb_writebatch_delete_cf(native, cf, k, key.count) }
                case let .deleteRange(family, start, end):
                    let cf = try handle(family).1
                    start.withCChars { s in end.withCChars { e in rocksdb_writebatch_delete_range_cf(native, cf, s, start.count, e, end.count) } }
                }
            }
            var error: UnsafeMutablePointer<CChar>?
            rocksdb_write(db, sync ? syncWrite : asyncWrite, native, &error)
            try check(error, "write")
        }
    }

    public func scan(_ family: ColumnFamily, from start: [UInt8], to end: [UInt8], reverse: Bool,
                     _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        try gate.reading {
            let (db, cf) = try handle(family)
            guard start.lexicographicallyPrecedes(end) else { return }
            let options = rocksdb_readoptions_create()
            defer { rocksdb_readoptions_destroy(options) }
            // The bounds are copied into buffers that outlive the iterator.
            let lower = UnsafeMutableBufferPointer<CChar>.allocate(capacity: max(1, start.count))
            let upper = UnsafeMutableBufferPointer<CChar>.allocate(capacity: max(1, end.count))
            defer { lower.deallocate(); upper.deallocate() }
            for (i, b) in start.enumerated() { lower[i] = CChar(bitPattern: b) }
            for (i, b) in end.enumerated() { upper[i] = CChar(bitPattern: b) }
            rocksdb_readoptions_set_iterate_lower_bound(options, lower.baseAddress, start.count)
            rocksdb_readoptions_set_iterate_upper_bound(options, upper.baseAddress, end.count)
            let iterator = rocksdb_create_iterator_cf(db, options, cf)
            defer { rocksdb_iter_destroy(iterator) }
            if reverse { rocksdb_iter_seek_to_last(iterator) } else { rocksdb_iter_seek_to_first(iterator) }
            while rocksdb_iter_valid(iterator) != 0 {
                var keyLength = 0, valueLength = 0
                let k = rocksdb_iter_key(iterator, &keyLength)!
                let v = rocksdb_iter_value(iterator, &valueLength)
                let key = Array(UnsafeRawBufferPointer(start: k, count: keyLength))
                let value = v.map { Array(UnsafeRawBufferPointer(start: $0, count: valueLength)) } ?? []
                guard try body(key, value) else { break }
                if reverse { rocksdb_iter_prev(iterator) } else { rocksdb_iter_next(iterator) }
            }
            var error: UnsafeMutablePointer<CChar>?
            rocksdb_iter_get_error(iterator, &error)
            try check(error, "scan")
        }
    }

    public func compact(_ family: ColumnFamily, from start: [UInt8], to end: [UInt8]) throws {
        try gate.reading {
            let (db, cf) = try handle(family)
            // Flush first so the range's newest writes (and tombstones) are in files compaction sees,
            // and force the bottommost level so tombstones actually drop the data. kForce rewrites
            // the bottommost files this compaction has just written too (in a soak, half of what
            // its purges compacted: 74 of 151 MiB on node-1), but kForceOptimized, which skips
            // them, can stop before the end of a range larger than one compaction takes
            // (facebook/rocksdb#12702, open for the RocksDB here): erased data would stay behind.
            let flush = rocksdb_flushoptions_create()
            rocksdb_flushoptions_set_wait(flush, 1)
            var error: UnsafeMutablePointer<CChar>?
            rocksdb_flush_cf(db, flush, cf, &error)
            rocksdb_flushoptions_destroy(flush)
            try check(error, "flush")
            let compactOptions = rocksdb_compactoptions_create()
            defer { rocksdb_compactoptions_destroy(compactOptions) }
            rocksdb_compactoptions_set_bottommost_level_compaction(compactOptions, 2) // kForce
            start.withCChars { s in
                end.withCChars { e in rocksdb_compact_range_cf_opt(db, cf, compactOptions, s, start.count, e, end.count) }
            }
        }
    }

    /// Flushes every family's memtable, so no write-ahead log file is needed any more and RocksDB
    /// deletes them: after this, deleted data no longer sits in an old log.
    public func flushAll() throws {
        try gate.reading {
            guard let db else { throw StorageError("RocksDB at \(path) is closed") }
            let flush = rocksdb_flushoptions_create()
            defer { rocksdb_flushoptions_destroy(flush) }
            rocksdb_flushoptions_set_wait(flush, 1)
            for handle in handles.values {
                var error: UnsafeMutablePointer<CChar>?
                rocksdb_flush_cf(db, flush, handle, &error)
                try check(error, "flush")
            }
        }
    }

    /// A consistent snapshot of every family in `directory` (which must not exist yet): RocksDB's
    /// checkpoint, whose table files are hard links to this store's (so it is instant and takes no
    /// second copy until compaction replaces them), with the write-ahead log copied up to now.
    /// It opens as a store of its own.
    public func checkpoint(into directory: String) throws {
        try gate.reading {
            guard let db else { throw StorageError("RocksDB at \(path) is closed") }
            var error: UnsafeMutablePointer<CChar>?
            guard let checkpoint = rocksdb_checkpoint_object_create(db, &error) else {
                try check(error, "checkpoint")
                throw StorageError("RocksDB could not start a checkpoint")
            }
            defer { rocksdb_checkpoint_object_destroy(checkpoint) }
            // A log size of 0 flushes the memtables first, so the snapshot's data is all in table files.
            rocksdb_checkpoint_create(checkpoint, directory, 0, &error)
            try check(error, "checkpoint")
        }
    }

    /// The table files the store reads now, with the family each belongs to.
    public func liveFiles() -> [LiveFile] {
        return gate.reading {
            guard let db, let files = rocksdb_livefiles(db) else { return [] }
            defer { rocksdb_livefiles_destroy(files) }
            return (0..<rocksdb_livefiles_count(files)).map { index in
                LiveFile(name: String(cString: rocksdb_livefiles_name(files, index)),
                         family: String(cString: rocksdb_livefiles_column_family_name(files, index)),
                         level: Int(rocksdb_livefiles_level(files, index)), bytes: UInt64(rocksdb_livefiles_size(files, index)),
                         entries: rocksdb_livefiles_entries(files, index))
            }
        }
    }

    public struct LiveFile: Sendable {
        public var name: String, family: String, level: Int, bytes: UInt64, entries: UInt64
    }

    /// Reads every key and value of every family, so every block of every table file is read and
    /// its checksum checked (bypassing the block cache, which holds blocks already checked);
    /// returns the keys read per family, or throws RocksDB's error at the first damaged block.
    public func verifyEveryBlock() throws -> [(ColumnFamily, Int)] {
        return try gate.reading {
            guard let db else { throw StorageError("RocksDB at \(path) is closed") }
            let options = rocksdb_readoptions_create()
            defer { rocksdb_readoptions_destroy(options) }
            rocksdb_readoptions_set_verify_checksums(options, 1)
            rocksdb_readoptions_set_fill_cache(options, 0)
            return try ColumnFamily.allCases.map { family in
                let iterator = rocksdb_create_iterator_cf(db, options, try handle(family).1)
                defer { rocksdb_iter_destroy(iterator) }
                var keys = 0
                rocksdb_iter_seek_to_first(iterator)
                while rocksdb_iter_valid(iterator) != 0 {
                    var length = 0
                    _ = rocksdb_iter_value(iterator, &length)
                    keys += 1
                    rocksdb_iter_next(iterator)
                }
                var error: UnsafeMutablePointer<CChar>?
                rocksdb_iter_get_error(iterator, &error)
                try check(error, "verify of \(family.rawValue)")
                return (family, keys)
            }
        }
    }

    public func approximateSize(_ family: ColumnFamily) -> UInt64 {
        return gate.reading {
            guard let db, let cf = handles[family] else { return 0 }
            var value: UInt64 = 0
            _ = rocksdb_property_int_cf(db, cf, "rocksdb.total-sst-files-size", &value)
            var memtable: UInt64 = 0
            _ = rocksdb_property_int_cf(db, cf, "rocksdb.cur-size-all-mem-tables", &memtable)
            return value + memtable
        }
    }

    // MARK: Rollup merge operator

    /// RocksDB calls these C functions on its own threads. They hold no state: merging rollup
    /// cells is a pure function (`RollupPack.mergeEncoded`). Results are malloc'd, as RocksDB
    /// frees them with `delete_value` (here `free`).
    private static func makeRollupMergeOperator() -> OpaquePointer {
        rocksdb_mergeoperator_create(
            nil,
            { _ in },
            { _, _, _, existing, existingLength, operands, operandLengths, count, success, newLength in
                let existingBytes = existing.map { Array(UnsafeRawBufferPointer(start: $0, count: existingLength)) }
                let merged = RollupPack.mergeEncoded(existing: existingBytes, operands: collectOperands(operands, operandLengths, count))
                return mallocCopy(merged, success, newLength)
            },
            { _, _, _, operands, operandLengths, count, success, newLength in
                let merged = RollupPack.mergeEncoded(existing: nil, operands: collectOperands(operands, operandLengths, count))
                return mallocCopy(merged, success, newLength)
            },
            { _, value, _ in free(UnsafeMutableRawPointer(mutating: value)) },
            { _ in UnsafePointer(RocksDBStore.mergeOperatorName) }
        )
    }

    nonisolated(unsafe) private static let mergeOperatorName: UnsafeMutablePointer<CChar> = strdup("footfall.rollup-pack.v1")
}

private func collectOperands(_ operands: UnsafePointer<UnsafePointer<CChar>?>?, _ lengths: UnsafePointer<Int>?, _ count: Int32) -> [[UInt8]] {
    guard let operands, let lengths else { return [] }
    return (0..<Int(count)).map { i in
        operands[i].map { Array(UnsafeRawBufferPointer(start: $0, count: lengths[i])) } ?? []
    }
}

private func mallocCopy(_ bytes: [UInt8], _ success: UnsafeMutablePointer<UInt8>?, _ length: UnsafeMutablePointer<Int>?) -> UnsafeMutablePointer<CChar>? {
    let buffer = malloc(max(1, bytes.count))!.assumingMemoryBound(to: CChar.self)
    bytes.withUnsafeBytes { raw in
        if let base = raw.baseAddress { memcpy(buffer, base, bytes.count) }
    }
    success?.pointee = 1
    length?.pointee = bytes.count
    return buffer
}

extension Array where Element == UInt8 {
    func withCChars<R>(_ body: (UnsafePointer<CChar>?) -> R) -> R {
        withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { body($0.baseAddress) }
        }
    }
}

/// A pthread read-write lock. Reads may nest (glibc prefers readers, so a nested read never waits
/// for a writer queued behind the outer one).
private final class ReadWriteLock: @unchecked Sendable {
    private let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)

    init() { pthread_rwlock_init(lock, nil) }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    func reading<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    func writing<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }
}

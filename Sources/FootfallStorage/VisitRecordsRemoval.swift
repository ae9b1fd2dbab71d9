/// Deletes the visit records (the `visits` family) of a store written by an earlier version, once,
/// when it is opened. Those versions kept a record per visitor and UTC day (the visitor's hit
/// count and visit pieces, with times and pages) for the hit cap and for rollups merged by every
/// hit; hits are now counted from the visitor index, and rollups are built from settled days. A
/// record describes a visitor's hits, so none may outlive them: they are deleted and compacted
/// out of the files rather than left to age out.
///
/// The family stays (RocksDB opens every family a store has) and stays empty. Deleting it again
/// after a crash part way deletes nothing more.
enum VisitRecordsRemoval {
    static func run(_ kv: any KeyValueStore) throws {
        let all: (start: [UInt8], end: [UInt8]) = ([], [0xff, 0xff, 0xff, 0xff])
        var holdsAny = false
        try kv.scan(.visits, from: all.start, to: all.end) { _, _ in
            holdsAny = true
            return false
        }
        guard holdsAny else { return }
        var batch = WriteBatch()
        batch.deleteRange(.visits, all.start, all.end)
        try kv.write(batch, sync: true)
        try kv.compact(.visits, from: all.start, to: all.end)
    }
}

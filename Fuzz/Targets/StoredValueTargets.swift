@testable import FootfallCluster
@testable import FootfallIngest
import FootfallModel
@testable import FootfallNode
import FootfallProtocols
@testable import FootfallStorage
@testable import FootfallSystem
import FootfallWire
import Foundation

/// Values read back from the store, which a bad disk, an older version or a peer's replicated
/// data may have left in any shape: each decoder refuses what is not whole, and what it accepts
/// survives the next write (decode ∘ encode ∘ decode = decode) and the code that reads it next.
/// The first byte picks the decoder; some take a key and a value (⟂-separated fields).
enum StoredValueTargets {
    private enum Decoder: UInt8, CaseIterable {
        case event, rollupCell, rollupPack, rollupMerge, sketch, visitorRecord, erasureRecord, hint,
             systemRecord, clusterState, purgeMark, visitorIndex, segment
    }

    static let values = FuzzTarget(
        name: "stored-values",
        summary: "stored events, rollup cells and packs (and their merge operator), sketches, CRM and erasure records, hints, system records, cluster state, purge marks, index keys, event segments",
        run: { input in
            guard let first = input.first else { return }
            let body = Array(input.dropFirst())
            switch Decoder.allCases[Int(first) % Decoder.allCases.count] {
            case .event:
                guard let event = try? EventCodec.decode(body) else { return }
                roundTrip(event, EventCodec.encode, EventCodec.decode)
                _ = RollupBuild(events: [event], days: event.day...event.day, calendar: .utc)
                _ = Visits.Hit(event)
            case .rollupCell:
                guard var cell = RollupCell(encoded: body) else { return }
                roundTrip(cell, \.encoded) { RollupCell(encoded: $0) }
                cell.merge(cell)
                _ = cell.visitors?.estimate
            case .rollupPack:
                guard let cells = RollupPack.decode(body) else { return }
                roundTrip(cells, RollupPack.encode) { RollupPack.decode($0) }
                _ = RollupPack.entries(body)
            case .rollupMerge:
                // RocksDB's merge operator: an existing value and operands, all as stored.
                let parts = fields(body, count: 3)
                let merged = RollupPack.mergeEncoded(existing: parts[0].isEmpty ? nil : parts[0], operands: [parts[1], parts[2]])
                if let cells = RollupPack.decode(merged) { roundTrip(cells, RollupPack.encode) { RollupPack.decode($0) } }
            case .sketch:
                guard var sketch = HyperLogLog(encoded: body) else { return }
                roundTrip(sketch, \.encoded) { HyperLogLog(encoded: $0) }
                _ = sketch.estimate
                _ = sketch.merge(encoded: body[...])
                _ = sketch.estimate
            case .visitorRecord:
                guard let record = try? VisitorRecord(encoded: body) else { return }
                roundTrip(record, { try $0.encoded }) { try? VisitorRecord(encoded: $0) }
                _ = VisitorView(record)
            case .erasureRecord:
                guard let record = try? ErasureRecord(encoded: body) else { return }
                roundTrip(record, { try $0.encoded }) { try? ErasureRecord(encoded: $0) }
            case .hint:
                guard let hint = try? HintCodec.decode(body) else { return }
                PeerTargets.requireHintRoundTrip(hint)
            case .systemRecord:
                let parts = fields(body, count: 2)
                guard let record = try? SystemStore.decodeRecord(key: parts[0], parts[1]) else { return }
                _ = SystemRecordCheck.problem(with: record)
            case .clusterState:
                guard let contents = try? JSONDecoder().decode(ClusterStateFile.Contents.self, from: Data(body)),
                      ClusterStateFile.problem(in: contents) == nil else { return }
                // What passed the check becomes the ring at start.
                let records = contents.ownership.compactMap { saved in
                    Membership.OwnershipRecord.State(rawValue: saved.state).map { Membership.OwnershipRecord(name: saved.name, state: $0, version: saved.version) }
                }
                _ = Membership.readRing(of: records).preferenceList(for: FuzzNode.site, replicationFactor: 3)
            case .purgeMark:
                guard let mark = ErasurePurges.Pending(encoded: body) else { return }
                FuzzCheck.require(ErasurePurges.Pending(encoded: mark.encoded) == mark, "a purge mark does not read back")
            case .segment:
                guard let segment = SegmentCodec.decode(body, site: FuzzNode.site, day: Day(containing: FuzzNode.noon)) else { return }
                roundTrip(segment, SegmentCodec.encode) { SegmentCodec.decode($0, site: FuzzNode.site, day: Day(containing: FuzzNode.noon)) }
                FuzzCheck.require(EventSegment(site: segment.site, day: segment.day, events: segment.events) == segment,
                                  "a decoded segment's events do not build the same segment")
                // The query engine reads whatever decodes: its answer must be the row reference's.
                let day = segment.day.startMs..<segment.day.advanced(by: 1).startMs
                for filters in [[], [ReportFilter(metric: .entryPage, value: "/")], [ReportFilter(metric: .device, value: "mobile")]] {
                    let tally = SummaryTally()
                    var analysis = SegmentAnalysis(range: day, filters: filters, tally: tally)
                    analysis.add(IndexedSegment(segment))
                    analysis.finish()
                    FuzzCheck.require(tally.answer == RowAnalysis(segment.events, filters: filters).summary,
                                      "the columnar summary of a decoded segment differs from its rows'")
                }
            case .visitorIndex:
                let parts = fields(body, count: 2)
                _ = StorageKeys.visitorHit(key: parts[0], value: parts[1])
                _ = StorageKeys.eventID(fromEventKey: parts[0])
                _ = StorageKeys.visitor(fromVisitorKey: parts[0], dayPrefixCount: min(parts[0].count, 16))
                _ = StorageKeys.rollupIndex(key: parts[0], prefixCount: max(0, parts[0].count - 4))
                _ = ErasurePurges.site(fromKey: parts[0])
            }
        },
        seeds: {
            // The fixture's own stored values, each under the decoder its family is read with.
            let fixture = FuzzNode()
            var seeds = [[UInt8]]()
            func add(_ decoder: Decoder, _ family: ColumnFamily, keyed: Bool = false, _ count: Int = 6) {
                for entry in fixture.stored(family).prefix(count) {
                    seeds.append([decoder.rawValue] + (keyed ? joined([entry.key, entry.value]) : entry.value))
                }
            }
            add(.event, .events)
            add(.rollupPack, .rollups)
            add(.visitorRecord, .crm)
            add(.erasureRecord, .erasures)
            add(.systemRecord, .system, keyed: true)
            add(.visitorIndex, .visitors, keyed: true)
            let packs = fixture.stored(.rollups).map(\.value)
            if packs.count >= 3 { seeds.append([Decoder.rollupMerge.rawValue] + joined(Array(packs.prefix(3)))) }
            if let cell = RollupPack.decode(packs.first ?? [])?.values.first(where: { $0.visitors != nil }) {
                seeds.append([Decoder.rollupCell.rawValue] + cell.encoded)
                seeds.append([Decoder.sketch.rawValue] + (cell.visitors?.encoded ?? []))
            }
            let events = fixture.storedEvents()
            seeds.append([Decoder.hint.rawValue] + ((try? HintCodec.encode(Replication.Hint(id: 9, target: "node-2", createdMs: FuzzNode.noon,
                                                                                            payload: .events(Array(events.prefix(2)))))) ?? []))
            let state = ClusterStateFile.Contents(lastUID: 1_781_524_000_000, ownership: [
                .init(name: "node-1", state: "normal", version: 2), .init(name: "node-2", state: "joining", version: 1),
            ])
            seeds.append([Decoder.clusterState.rawValue] + ((try? JSONEncoder().encode(state)).map(Array.init) ?? []))
            let day = Day(containing: FuzzNode.noon)
            seeds.append([Decoder.purgeMark.rawValue] + ErasurePurges.Pending(days: day...day, revision: 3).encoded)
            let segment = EventSegment(site: FuzzNode.site, day: day, events: events.filter { $0.day == day })
            seeds.append([Decoder.segment.rawValue] + SegmentCodec.encode(segment))
            return seeds
        }
    )

    /// A decoded value written again must decode to itself.
    private static func roundTrip<Value: Equatable>(_ value: Value, _ encode: (Value) throws -> [UInt8], _ decode: ([UInt8]) throws -> Value?) {
        FuzzCheck.require((try? decode(encode(value))) == value, "\(Value.self) does not read back as it was written: \(value)")
    }
}

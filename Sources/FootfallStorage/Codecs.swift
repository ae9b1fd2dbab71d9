import Foundation
import FootfallModel
import FootfallWire
import SwiftProtobuf

extension SwiftProtobuf.Message {
    /// The message's bytes for storage or the wire; a failure of swift-protobuf to serialise
    /// becomes an error of the write that needed them, not a trap.
    public func storageBytes() throws -> [UInt8] {
        do {
            return try serializedBytes()
        } catch {
            throw StorageError("cannot encode a \(Self.protoMessageName): \(error)")
        }
    }
}

/// Event ⇄ `Footfall_V1_StoredEvent`, the on-disk and on-wire (replication) form of an event.
public enum EventCodec {
    /// The event's bytes, checked as `decode` checks them (the pair of the decoder's checks): an
    /// event the store would refuse to read back is refused here, before it is written.
    public static func encode(_ event: Event) throws -> [UInt8] {
        let stored = message(event)
        try check(stored, id: event.id)
        return try stored.storageBytes()
    }

    public static func decode(_ bytes: [UInt8]) throws -> Event {
        try event(from: Footfall_V1_StoredEvent(serializedBytes: bytes))
    }

    public static func message(_ event: Event) -> Footfall_V1_StoredEvent {
        var stored = Footfall_V1_StoredEvent()
        stored.id = Data(event.id.bytes)
        stored.site = event.site.rawValue
        stored.visitor = event.visitor.rawValue
        stored.timestampMs = event.timestampMs
        stored.kind = Footfall_V1_EventKind(rawValue: Int(event.kind.rawValue)) ?? .unspecified
        stored.path = event.path
        stored.title = event.title
        stored.referrerHost = event.referrerHost
        stored.utmSource = event.utm.source
        stored.utmMedium = event.utm.medium
        stored.utmCampaign = event.utm.campaign
        stored.utmTerm = event.utm.term
        stored.utmContent = event.utm.content
        stored.browser = event.device.browser
        stored.browserMajor = event.device.browserMajor
        stored.os = event.device.os
        stored.device = Footfall_V1_DeviceClass(rawValue: Int(event.device.deviceClass.rawValue)) ?? .unspecified
        stored.country = event.geo.country
        stored.region = event.geo.region
        stored.consented = event.consented
        stored.name = event.name
        stored.target = event.target
        stored.props = event.props
        stored.engagementMs = event.engagementMs
        if let pii = event.pii { stored.pii = PIICodec.encode(pii) }
        if let previous = event.previousDayVisitor { stored.previousDayVisitor = previous.rawValue }
        return stored
    }

    /// Ranges every decoded event keeps, whoever sent it: replicas apply events from peers, and
    /// the arithmetic that follows (UTC and local day buckets, quarter hours, visit gaps, retention
    /// cutoffs) must not be able to overflow on any of them.
    public enum Bounds {
        /// Milliseconds since 1970 up to 2^52 (the year 144,000), as for erasure fences and edit times.
        public static let timestampMs: ClosedRange<Int64> = 0...(Int64(1) << 52)

        /// `ms` brought within `timestampMs`: for stored records, whose times other code compares
        /// and adds to, and which are kept usable rather than refused.
        public static func clampedTime(_ ms: Int64) -> Int64 { min(max(ms, timestampMs.lowerBound), timestampMs.upperBound) }
        /// Bytes of any one text field: ingest keeps URLs within 2 KiB and every other field shorter.
        public static let textBytesMax = 4096
        /// Custom properties per event: ingest keeps ten.
        public static let propsCountMax = 64
    }

    /// The event a message holds, or an error naming what is malformed.
    public static func event(from stored: Footfall_V1_StoredEvent) throws -> Event {
        guard let id = EventID(bytes: Array(stored.id)), let site = SiteID(stored.site),
              let kind = Event.Kind(rawValue: UInt8(clamping: stored.kind.rawValue))
        else { throw StorageError("stored event has a malformed id, site or kind") }
        try check(stored, id: id)
        var event = Event(id: id, site: site, visitor: VisitorID(rawValue: stored.visitor), timestampMs: stored.timestampMs,
                          kind: kind, path: stored.path)
        event.title = stored.title
        event.referrerHost = stored.referrerHost
        event.utm = UTM(source: stored.utmSource, medium: stored.utmMedium, campaign: stored.utmCampaign,
                        term: stored.utmTerm, content: stored.utmContent)
        event.device = Device(browser: stored.browser, browserMajor: stored.browserMajor, os: stored.os,
                              deviceClass: Device.Class(rawValue: UInt8(clamping: stored.device.rawValue)) ?? .unknown)
        event.geo = Geo(country: stored.country, region: stored.region)
        event.consented = stored.consented
        event.name = stored.name
        event.target = stored.target
        event.props = stored.props
        event.engagementMs = stored.engagementMs
        if stored.hasPii { event.pii = PIICodec.decode(stored.pii) }
        if stored.hasPreviousDayVisitor { event.previousDayVisitor = VisitorID(rawValue: stored.previousDayVisitor) }
        return event
    }

    /// What every stored event must hold, checked when it is decoded and when it is encoded.
    private static func check(_ stored: Footfall_V1_StoredEvent, id: EventID) throws {
        try checkBounds(stored)
        // Ingest stamps an id with its event's time, and the store files an event under its id's
        // day while segments hold it by its own time: an event whose two times differ would sit
        // in one day's rows and claim another's (a segment refuses it), so it is refused.
        guard id.timestampMs == stored.timestampMs else {
            throw StorageError("stored event's id is stamped \(id.timestampMs) ms, its time is \(stored.timestampMs) ms")
        }
    }

    private static func checkBounds(_ stored: Footfall_V1_StoredEvent) throws {
        guard Bounds.timestampMs.contains(stored.timestampMs) else {
            throw StorageError("stored event has a timestamp out of range (\(stored.timestampMs) ms)")
        }
        guard Device.Class.allCases.contains(where: { Int($0.rawValue) == stored.device.rawValue }) else {
            throw StorageError("stored event has an unknown device class \(stored.device.rawValue)")
        }
        guard stored.props.count <= Bounds.propsCountMax else {
            throw StorageError("stored event has \(stored.props.count) properties, more than \(Bounds.propsCountMax)")
        }
        let texts: KeyValuePairs<String, String> = [
            "path": stored.path, "title": stored.title, "referrer host": stored.referrerHost, "utm source": stored.utmSource,
            "utm medium": stored.utmMedium, "utm campaign": stored.utmCampaign, "utm term": stored.utmTerm,
            "utm content": stored.utmContent, "browser": stored.browser, "os": stored.os, "country": stored.country,
            "region": stored.region, "name": stored.name, "target": stored.target, "pii name": stored.pii.name,
            "pii email": stored.pii.email, "pii phone": stored.pii.phone,
        ]
        for (field, text) in texts where text.utf8.count > Bounds.textBytesMax {
            throw StorageError("stored event has a \(field) of \(text.utf8.count) bytes, more than \(Bounds.textBytesMax)")
        }
        for (key, value) in stored.props where key.utf8.count > Bounds.textBytesMax || value.utf8.count > Bounds.textBytesMax {
            throw StorageError("stored event has a property longer than \(Bounds.textBytesMax) bytes")
        }
    }
}

enum PIICodec {
    static func encode(_ pii: PII) -> Footfall_V1_Pii {
        var out = Footfall_V1_Pii()
        out.name = pii.name
        out.email = pii.email
        out.phone = pii.phone
        return out
    }

    static func decode(_ pii: Footfall_V1_Pii) -> PII {
        PII(name: pii.name, email: pii.email, phone: pii.phone)
    }
}

/// The CRM record of a consented visitor.
public struct VisitorRecord: Hashable, Sendable {
    public struct Note: Hashable, Sendable {
        public var id: String
        public var createdMs: Int64
        public var text: String
        public init(id: String, createdMs: Int64, text: String) {
            self.id = id
            self.createdMs = createdMs
            self.text = text
        }
    }

    public var visitor: VisitorID
    public var firstSeenMs: Int64
    public var lastSeenMs: Int64
    public var pageviews: UInt64 = 0
    public var events: UInt64 = 0
    public var geo = Geo()
    public var device = Device()
    public var pii = PII()
    public var tags: [String] = []
    public var notes: [Note] = []
    /// When the tags were last set and each personal data field last changed; later changes win.
    public var tagsEditedMs: Int64 = 0
    public var nameEditedMs: Int64 = 0
    public var emailEditedMs: Int64 = 0
    public var phoneEditedMs: Int64 = 0
    /// Removed notes' ids, so a late copy of an addition does not bring one back.
    public var removedNotes: [String] = []

    public init(visitor: VisitorID, firstSeenMs: Int64, lastSeenMs: Int64) {
        self.visitor = visitor
        self.firstSeenMs = firstSeenMs
        self.lastSeenMs = lastSeenMs
    }

    public var encoded: [UInt8] {
        get throws {
            var record = Footfall_V1_VisitorRecord()
            record.visitor = visitor.rawValue
            record.firstSeenMs = firstSeenMs
            record.lastSeenMs = lastSeenMs
            record.pageviews = pageviews
            record.events = events
            record.country = geo.country
            record.browser = device.browser
            record.os = device.os
            record.device = Footfall_V1_DeviceClass(rawValue: Int(device.deviceClass.rawValue)) ?? .unspecified
            if !pii.isEmpty { record.pii = PIICodec.encode(pii) }
            record.tags = tags
            record.notes = notes.map { note in
                var n = Footfall_V1_Note()
                n.id = note.id
                n.createdMs = note.createdMs
                n.text = note.text
                return n
            }
            record.tagsEditedMs = tagsEditedMs
            record.nameEditedMs = nameEditedMs
            record.emailEditedMs = emailEditedMs
            record.phoneEditedMs = phoneEditedMs
            record.removedNotes = removedNotes
            return try record.storageBytes()
        }
    }

    /// Applies an owner's edit; the result is the same whatever order a replica sees edits in.
    public mutating func apply(_ edit: VisitorEdit) {
        switch edit.change {
        case .addNote(let id, let text):
            guard !removedNotes.contains(id), !notes.contains(where: { $0.id == id }), notes.count < VisitorEdit.notesMax else { return }
            notes.append(Note(id: id, createdMs: edit.atMs, text: text))
            notes.sort { ($0.createdMs, $0.id) < ($1.createdMs, $1.id) }
        case .removeNote(let id):
            notes.removeAll { $0.id == id }
            if !removedNotes.contains(id) {
                removedNotes.append(id)
                removedNotes.sort()
            }
        case .setTags(let newTags):
            guard edit.atMs > tagsEditedMs else { return }
            tags = Array(Set(newTags)).sorted()
            tagsEditedMs = edit.atMs
        case .rectify(let name, let email, let phone):
            VisitorRecord.set(&pii.name, &nameEditedMs, to: name, atMs: edit.atMs)
            VisitorRecord.set(&pii.email, &emailEditedMs, to: email, atMs: edit.atMs)
            VisitorRecord.set(&pii.phone, &phoneEditedMs, to: phone, atMs: edit.atMs)
        }
    }

    /// Personal data given with an identify event at `atMs` (non-empty fields only).
    public mutating func apply(given: PII, atMs: Int64) {
        VisitorRecord.set(&pii.name, &nameEditedMs, to: given.name.isEmpty ? nil : given.name, atMs: atMs)
        VisitorRecord.set(&pii.email, &emailEditedMs, to: given.email.isEmpty ? nil : given.email, atMs: atMs)
        VisitorRecord.set(&pii.phone, &phoneEditedMs, to: given.phone.isEmpty ? nil : given.phone, atMs: atMs)
    }

    /// The latest time any owner-editable or personal field changed: an edit made after reading
    /// the record is stamped later, so it supersedes what the owner saw.
    public var latestEditMs: Int64 { [tagsEditedMs, nameEditedMs, emailEditedMs, phoneEditedMs, notes.map(\.createdMs).max() ?? 0].max()! }

    /// The edits that rebuild this record's notes, removed notes, tags and personal data on a
    /// replica that missed some of them (anti-entropy): applied there in any order, together with
    /// what it already holds, both records end alike, as with the original edits. Personal data an
    /// identify call gave travels as a rectification at that call's time. Empty for a record no
    /// owner edited and no identify call filled.
    public func rebuildingEdits(site: SiteID) -> [VisitorEdit] {
        func edit(_ atMs: Int64, _ change: VisitorEdit.Change) -> VisitorEdit {
            VisitorEdit(site: site, visitor: visitor, atMs: atMs, change: change)
        }
        var edits = notes.map { edit($0.createdMs, .addNote(id: $0.id, text: $0.text)) }
        // A removal's time is not kept; the record's latest edit is one at or after it (only the
        // erasure fence looks at it, and the record outlived any fence).
        edits += removedNotes.map { edit(max(latestEditMs, lastSeenMs), .removeNote(id: $0)) }
        if tagsEditedMs > 0 { edits.append(edit(tagsEditedMs, .setTags(tags))) }
        if nameEditedMs > 0 { edits.append(edit(nameEditedMs, .rectify(name: pii.name, email: nil, phone: nil))) }
        if emailEditedMs > 0 { edits.append(edit(emailEditedMs, .rectify(name: nil, email: pii.email, phone: nil))) }
        if phoneEditedMs > 0 { edits.append(edit(phoneEditedMs, .rectify(name: nil, email: nil, phone: pii.phone))) }
        return edits
    }

    /// Forgets personal data given or corrected before `cutoffMs`: no visitor data outlives its
    /// site's plan (promise 7), however often the visitor returns. The edit times stay, so an older
    /// copy of the data (a replica that has not run its own pass yet) cannot bring it back.
    /// Returns whether anything was removed.
    public mutating func forgetPersonalData(before cutoffMs: Int64) -> Bool {
        let before = pii
        if nameEditedMs < cutoffMs { pii.name = "" }
        if emailEditedMs < cutoffMs { pii.email = "" }
        if phoneEditedMs < cutoffMs { pii.phone = "" }
        return pii != before
    }

    /// Last writer wins per field, by time.
    private static func set(_ field: inout String, _ editedMs: inout Int64, to value: String?, atMs: Int64) {
        guard let value, atMs > editedMs else { return }
        field = value
        editedMs = atMs
    }

    /// Counts a record may hold: far more hits than any visitor makes, and far from overflowing.
    public static let countMax: UInt64 = 1 << 52

    /// A record read from disk or from a peer's answer. Its times and counts are brought within
    /// what stored events and edits make (`EventCodec.Bounds.timestampMs`, `countMax`), so the
    /// arithmetic done on them (an edit stamped after the latest, a hit counted) cannot overflow.
    /// Brought within, not refused: a record that failed to decode failed every read of its site's
    /// visitors, every ingest batch holding one of its hits, and its own erasure. An edit time out
    /// of range reads as 0, never edited, so every erasure covers what it stamps (raised to the
    /// top of the range instead, it would outlive them all).
    public init(encoded bytes: [UInt8]) throws {
        let record = try Footfall_V1_VisitorRecord(serializedBytes: bytes)
        let time = EventCodec.Bounds.clampedTime
        let edited = { (ms: Int64) in EventCodec.Bounds.timestampMs.contains(ms) ? ms : 0 }
        visitor = VisitorID(rawValue: record.visitor)
        firstSeenMs = time(record.firstSeenMs)
        lastSeenMs = time(record.lastSeenMs)
        pageviews = min(record.pageviews, VisitorRecord.countMax)
        events = min(record.events, VisitorRecord.countMax)
        geo = Geo(country: record.country)
        device = Device(browser: record.browser, os: record.os,
                        deviceClass: Device.Class(rawValue: UInt8(clamping: record.device.rawValue)) ?? .unknown)
        pii = record.hasPii ? PIICodec.decode(record.pii) : PII()
        tags = record.tags
        notes = record.notes.map { Note(id: $0.id, createdMs: edited($0.createdMs), text: $0.text) }
        tagsEditedMs = edited(record.tagsEditedMs)
        nameEditedMs = edited(record.nameEditedMs)
        emailEditedMs = edited(record.emailEditedMs)
        phoneEditedMs = edited(record.phoneEditedMs)
        removedNotes = record.removedNotes
    }
}

/// Kept after a visitor's data is erased: every event of theirs at or before `erasedAtMs` is
/// fenced on reads and never accepted again.
public struct ErasureRecord: Hashable, Sendable {
    public struct Confirmation: Hashable, Sendable {
        public var node: String
        public var confirmedAtMs: Int64
        public init(node: String, confirmedAtMs: Int64) {
            self.node = node
            self.confirmedAtMs = confirmedAtMs
        }
    }

    public var requestID: String
    public var site: SiteID
    public var visitor: VisitorID
    public var erasedAtMs: Int64
    public var deletedEvents: Int64
    public var confirmations: [Confirmation]

    public init(requestID: String, site: SiteID, visitor: VisitorID, erasedAtMs: Int64, deletedEvents: Int64, confirmations: [Confirmation]) {
        self.requestID = requestID
        self.site = site
        self.visitor = visitor
        self.erasedAtMs = erasedAtMs
        self.deletedEvents = deletedEvents
        self.confirmations = confirmations
    }

    var encoded: [UInt8] {
        get throws {
            var record = Footfall_V1_ErasureRecord()
            record.requestID = requestID
            record.site = site.rawValue
            record.visitor = visitor.rawValue
            record.erasedAtMs = erasedAtMs
            record.deletedEvents = deletedEvents
            record.confirmations = confirmations.map { c in
                var out = Footfall_V1_ReplicaConfirmation()
                out.node = c.node
                out.confirmedAtMs = c.confirmedAtMs
                return out
            }
            return try record.storageBytes()
        }
    }

    /// A stored record, its fence and count brought within range as a visitor record's are (a
    /// fence past every event's time still fences them all), so the erasure that finds it can add
    /// to its count and work out which days to read. Refused instead, it failed every read of its
    /// site's events and every ingest batch.
    init(encoded bytes: [UInt8]) throws {
        let record = try Footfall_V1_ErasureRecord(serializedBytes: bytes)
        guard let site = SiteID(record.site) else { throw StorageError("erasure record with a malformed site") }
        requestID = record.requestID
        self.site = site
        visitor = VisitorID(rawValue: record.visitor)
        erasedAtMs = EventCodec.Bounds.clampedTime(record.erasedAtMs)
        deletedEvents = min(max(record.deletedEvents, 0), Int64(VisitorRecord.countMax))
        confirmations = record.confirmations.map { Confirmation(node: $0.node, confirmedAtMs: $0.confirmedAtMs) }
    }
}

extension Membership {
    /// The piggyback queue: each update rides on outgoing messages until it has been sent
    /// `limit` times. The least-sent updates go first, newer before older, and a newer update
    /// about the same subject replaces the queued one (SWIM's infection-style dissemination).
    struct Dissemination: Sendable {
        private enum Subject: Hashable {
            case liveness(String)
            case ownership(String)
        }

        private struct Entry {
            var update: Update
            var transmissions: Int
            var order: UInt64
        }

        private var entries: [Subject: Entry] = [:]
        private var nextOrder: UInt64 = 0

        var isEmpty: Bool { entries.isEmpty }
        var count: Int { entries.count }

        mutating func enqueue(_ update: Update) {
            nextOrder += 1
            entries[Dissemination.subject(of: update)] = Entry(update: update, transmissions: 0, order: nextOrder)
        }

        /// Up to `max` updates for one message, each counted as sent once; updates sent `limit`
        /// times leave the queue. Ordering is total (no dictionary order leaks out), so a seeded
        /// run replays exactly.
        mutating func take(max: Int, limit: Int) -> [Update] {
            let chosen = entries
                .sorted { ($0.value.transmissions, $1.value.order) < ($1.value.transmissions, $0.value.order) }
                .prefix(max)
            var updates = [Update]()
            updates.reserveCapacity(chosen.count)
            for (subject, entry) in chosen {
                updates.append(entry.update)
                if entry.transmissions + 1 >= limit {
                    entries[subject] = nil
                } else {
                    entries[subject]?.transmissions += 1
                }
            }
            return updates
        }

        private static func subject(of update: Update) -> Subject {
            switch update {
            case .liveness(let record, _): .liveness(record.member.name)
            case .ownership(let record): .ownership(record.name)
            }
        }
    }
}

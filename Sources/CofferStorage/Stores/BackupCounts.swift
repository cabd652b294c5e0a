/// Stored record counts per bucket of `created_at`, which keep the backup list's `total_num` exact without
/// counting every matching record: UTC days in `dcs_backup_day_counts` and UTC hours in `dcs_backup_hour_counts`,
/// both kept in the inserting transaction.
enum BackupCounts {
    /// One bucket size and the table holding its counts (`records` per project, instance and bucket number).
    struct Level: Equatable, Sendable {
        let table: String
        let column: String
        let millis: Int64
    }

    static let day = Level(table: "dcs_backup_day_counts", column: "day", millis: 86_400_000)
    static let hour = Level(table: "dcs_backup_hour_counts", column: "hour", millis: 3_600_000)
    /// Coarsest first: a window takes whole days, then whole hours at its edges, then the index for the rest.
    static let levels = [day, hour]

    /// The bucket of an epoch-milliseconds time: `created_at / millis`, the same truncating division the
    /// migrations' backfills do in SQL (Coffer's times are after 1970, where it is the floor).
    static func bucket(_ millis: Int64, _ level: Level) -> Int64 { millis / level.millis }

    /// One part of a count: a sum over a level's buckets (either end open), or a count of records in the
    /// `(project_id, instance_id, created_at, id)` index.
    enum Term: Equatable {
        case buckets(Level, first: Int64?, last: Int64?)
        case index(ClosedRange<Int64>)
    }

    /// How to count a window: the sum of `added` minus the sum of `subtracted`.
    struct Plan: Equatable {
        var added: [Term] = []
        var subtracted: [Term] = []
    }

    /// An inclusive `created_at` window of the list, either end open.
    struct Window: Equatable {
        var begin: Int64?
        var end: Int64?

        /// Whole days from the day counts; each partial edge day split the same way into whole hours and the
        /// index. Each edge is counted from whichever side of the window's bound is shorter (the piece inside,
        /// or the whole bucket minus the piece outside), so that `now` as the end costs a count of the rest of
        /// this hour (usually no record at all), and the index visits at most two half hours of records.
        var plan: Plan {
            var plan = Plan()
            if let begin = self.begin, let end = self.end, begin > end { return plan }
            // Before 1970 the buckets do not apply (truncating division): count such windows in the index.
            if (self.begin ?? 0) < 0 || (self.end ?? 0) < 0 {
                plan.added.append(.index((self.begin ?? .min)...(self.end ?? .max)))
                return plan
            }
            Self.split(begin: self.begin, end: self.end, level: 0, subtracting: false, into: &plan)
            return plan
        }

        /// Adds (or subtracts) the terms counting `[begin, end]` from `levels[level]` down.
        private static func split(begin: Int64?, end: Int64?, level: Int, subtracting: Bool, into plan: inout Plan) {
            func take(_ term: Term) {
                if subtracting { plan.subtracted.append(term) } else { plan.added.append(term) }
            }
            guard level < BackupCounts.levels.count else { return take(.index((begin ?? .min)...(end ?? .max))) }
            let size = BackupCounts.levels[level].millis
            // First and last buckets wholly inside the window.
            var first = begin.map { $0 / size + ($0 % size == 0 ? 0 : 1) }
            var last = end.map { $0 % size == size - 1 ? $0 / size : $0 / size - 1 }
            if let first, let last, first > last {  // no whole bucket: the next level counts it all
                return split(begin: begin, end: end, level: level + 1, subtracting: subtracting, into: &plan)
            }
            if let begin, let whole = first, begin < whole * size {
                // The partial bucket before `whole`: [begin, its end], or the whole bucket minus [its start, begin).
                let start = (whole - 1) * size
                if begin - start < whole * size - begin {
                    split(begin: start, end: begin - 1, level: level + 1, subtracting: !subtracting, into: &plan)
                    first = whole - 1
                } else {
                    split(begin: begin, end: whole * size - 1, level: level + 1, subtracting: subtracting, into: &plan)
                }
            }
            if let end, let whole = last, end > (whole + 1) * size - 1 {
                // The partial bucket after `whole`: [its start, end], or the whole bucket minus (end, its end].
                let start = (whole + 1) * size
                let stop = start + size - 1
                if stop - end < end - start + 1 {
                    split(begin: end + 1, end: stop, level: level + 1, subtracting: !subtracting, into: &plan)
                    last = whole + 1
                } else {
                    split(begin: start, end: end, level: level + 1, subtracting: subtracting, into: &plan)
                }
            }
            take(.buckets(BackupCounts.levels[level], first: first, last: last))
        }
    }
}

/// UTC days of `created_at`: the buckets of `dcs_backup_day_counts`, which keep the backup list's
/// `total_num` exact without counting every matching record.
enum BackupDays {
    static let millisPerDay: Int64 = 86_400_000

    /// The day of an epoch-milliseconds time: `created_at / 86400000`, the same truncating division the
    /// migration's backfill does in SQL (Coffer's times are after 1970, where it is the floor).
    static func day(_ millis: Int64) -> Int64 { millis / Self.millisPerDay }

    /// An inclusive `created_at` window of the list, either end open.
    struct Window: Equatable {
        var begin: Int64?
        var end: Int64?

        /// How to count the window: a sum over whole days from the count table (`days`, either end open),
        /// plus index range counts of the partial days at its edges (`ranges`), minus index range counts of the
        /// parts of edge days that the sum takes but the window does not (`excluded`). Each edge day is counted
        /// from whichever side of the window's bound is shorter (at most half a day), so that `now` as the
        /// end costs a count of the rest of today (usually no record at all) instead of all of today.
        struct Plan: Equatable {
            var days: (first: Int64?, last: Int64?)?
            var ranges: [ClosedRange<Int64>]
            var excluded: [ClosedRange<Int64>] = []

            static func == (lhs: Plan, rhs: Plan) -> Bool {
                lhs.days?.first == rhs.days?.first && lhs.days?.last == rhs.days?.last && (lhs.days == nil) == (rhs.days == nil)
                    && lhs.ranges == rhs.ranges && lhs.excluded == rhs.excluded
            }
        }

        var plan: Plan {
            let perDay = BackupDays.millisPerDay
            if let begin = self.begin, let end = self.end, begin > end { return Plan(days: nil, ranges: []) }
            // Before 1970 the day buckets do not apply (truncating division): count such windows in the index.
            if (self.begin ?? 0) < 0 || (self.end ?? 0) < 0 {
                return Plan(days: nil, ranges: [(self.begin ?? .min)...(self.end ?? .max)])
            }
            // First and last days wholly inside the window.
            var first = self.begin.map { $0 / perDay + ($0 % perDay == 0 ? 0 : 1) }
            var last = self.end.map { $0 % perDay == perDay - 1 ? $0 / perDay : $0 / perDay - 1 }
            if let first, let last, first > last, let begin = self.begin, let end = self.end {
                return Plan(days: nil, ranges: [begin...end])  // less than two days: the index alone
            }
            var ranges: [ClosedRange<Int64>] = []
            var excluded: [ClosedRange<Int64>] = []
            if let begin = self.begin, let whole = first, begin < whole * perDay {
                // The partial day before `whole`: [begin, its end] in the index, or the whole day minus [its start, begin).
                let dayStart = (whole - 1) * perDay
                if begin - dayStart < whole * perDay - begin {
                    excluded.append(dayStart...(begin - 1))
                    first = whole - 1
                } else {
                    ranges.append(begin...(whole * perDay - 1))
                }
            }
            if let end = self.end, let whole = last, end > (whole + 1) * perDay - 1 {
                // The partial day after `whole`: [its start, end] in the index, or the whole day minus (end, its end].
                let dayStart = (whole + 1) * perDay
                let dayEnd = dayStart + perDay - 1
                if dayEnd - end < end - dayStart + 1 {
                    excluded.append((end + 1)...dayEnd)
                    last = whole + 1
                } else {
                    ranges.append(dayStart...end)
                }
            }
            return Plan(days: (first, last), ranges: ranges, excluded: excluded)
        }
    }
}

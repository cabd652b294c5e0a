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

        /// How to count the window: a sum over whole days from the count table (`days`, either end open)
        /// plus index range counts of the partial days at its edges (`ranges`, at most two, each under a day).
        struct Plan: Equatable {
            var days: (first: Int64?, last: Int64?)?
            var ranges: [ClosedRange<Int64>]

            static func == (lhs: Plan, rhs: Plan) -> Bool {
                lhs.days?.first == rhs.days?.first && lhs.days?.last == rhs.days?.last && (lhs.days == nil) == (rhs.days == nil)
                    && lhs.ranges == rhs.ranges
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
            let first = self.begin.map { $0 / perDay + ($0 % perDay == 0 ? 0 : 1) }
            let last = self.end.map { $0 % perDay == perDay - 1 ? $0 / perDay : $0 / perDay - 1 }
            if let first, let last, first > last, let begin = self.begin, let end = self.end {
                return Plan(days: nil, ranges: [begin...end])  // less than two days: the index alone
            }
            var ranges: [ClosedRange<Int64>] = []
            if let begin = self.begin, let first, begin < first * perDay { ranges.append(begin...(first * perDay - 1)) }
            if let end = self.end, let last, end > (last + 1) * perDay - 1 { ranges.append(((last + 1) * perDay)...end) }
            return Plan(days: (first, last), ranges: ranges)
        }
    }
}

import Testing

@testable import CofferStorage

/// The counting plan of a list window: whole days from the day counts, whole hours of the partial edge days from the
/// hour counts, each partial edge from its shorter side. (That the totals are exact is `DCSBackupStoreTests`'
/// brute-force test, on both engines.)
@Suite("Backup count plans")
struct BackupCountsTests {
    static let day: Int64 = 86_400_000
    static let hour: Int64 = 3_600_000
    static let minute: Int64 = 60_000
    typealias Term = BackupCounts.Term

    static func days(_ first: Int64?, _ last: Int64?) -> Term { .buckets(BackupCounts.day, first: first, last: last) }
    static func hours(_ first: Int64?, _ last: Int64?) -> Term { .buckets(BackupCounts.hour, first: first, last: last) }

    @Test("a 30-day window ending now: whole days, the edges' whole hours, and two partial hours from their shorter sides")
    func listWindowEndingNow() {
        let today: Int64 = 20_000
        let now = today * Self.day + 21 * Self.hour + 10 * Self.minute + 123
        let begin = now - 30 * Self.day
        let plan = BackupCounts.Window(begin: begin, end: now).plan
        let beginHour = begin / Self.hour, nowHour = now / Self.hour  // both 21:00, 30 days apart
        // The first partial day (from 21:10) from the hour counts: 21:00–24:00 minus 21:00–21:10 from the index.
        // Today (up to 21:10): the whole day, minus 21:00–24:00 by hours, plus 21:00–21:10 from the index again:
        // the index sees 10 minutes at each edge, not the 21 hours of today.
        #expect(
            plan.added == [
                Self.hours(beginHour, (today - 29) * 24 - 1), .index((nowHour * Self.hour)...now), Self.days(today - 29, today),
            ])
        #expect(plan.subtracted == [.index((beginHour * Self.hour)...(begin - 1)), Self.hours(nowHour, today * 24 + 23)])
    }

    @Test("an edge near a bucket's start or end is counted as the whole bucket minus the part outside, at each level")
    func shorterSides() {
        // Begin at 02:05 on day 100: day 100 minus its first 2 h 5 min (00:00–02:00 by hours, 02:00–02:05 from the index).
        // End at 23:55 on day 110: day 110 minus its last 5 min, from the index (less than a whole hour).
        let begin = 100 * Self.day + 2 * Self.hour + 5 * Self.minute
        let end = 110 * Self.day + 23 * Self.hour + 55 * Self.minute
        let plan = BackupCounts.Window(begin: begin, end: end).plan
        #expect(plan.added == [Self.days(100, 110)])
        #expect(
            plan.subtracted == [
                .index((100 * Self.day + 2 * Self.hour)...(begin - 1)), Self.hours(100 * 24, 100 * 24 + 1), .index((end + 1)...(111 * Self.day - 1)),
            ])
    }

    @Test("aligned, open, short, empty and pre-1970 windows keep their plans")
    func otherShapes() {
        #expect(BackupCounts.Window(begin: 5 * Self.day, end: 8 * Self.day - 1).plan == .init(added: [Self.days(5, 7)]))
        #expect(BackupCounts.Window(begin: nil, end: nil).plan == .init(added: [Self.days(nil, nil)]))
        #expect(BackupCounts.Window(begin: nil, end: 3 * Self.hour - 1).plan == .init(added: [Self.hours(0, 2), Self.days(nil, -1)]))
        // Within one day: whole hours, and the index for the partial hours.
        #expect(
            BackupCounts.Window(begin: 5 * Self.day + Self.hour, end: 5 * Self.day + 4 * Self.hour + 1).plan
                == .init(added: [.index((5 * Self.day + 4 * Self.hour)...(5 * Self.day + 4 * Self.hour + 1)), Self.hours(5 * 24 + 1, 5 * 24 + 3)]))
        #expect(BackupCounts.Window(begin: 5 * Self.day + 1, end: 5 * Self.day + 9).plan == .init(added: [.index((5 * Self.day + 1)...(5 * Self.day + 9))]))
        #expect(BackupCounts.Window(begin: 9, end: 3).plan == .init())
        #expect(BackupCounts.Window(begin: -5, end: 7).plan == .init(added: [.index(-5...7)]))
    }
}

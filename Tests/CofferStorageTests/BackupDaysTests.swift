import Testing

@testable import CofferStorage

/// The counting plan of a list window: whole days from the count table, each partial edge day from its
/// shorter side. (That the totals are exact is `DCSBackupStoreTests`' brute-force test, on both engines.)
@Suite("Backup day-count plans")
struct BackupDaysTests {
    static let day: Int64 = 86_400_000
    static let hour: Int64 = 3_600_000

    @Test("a 30-day window ending now: the start edge from the index, the end edge as today minus the rest of today")
    func listWindowEndingNow() {
        let today: Int64 = 20_000
        let now = today * Self.day + 21 * Self.hour + 123
        let plan = BackupDays.Window(begin: now - 30 * Self.day, end: now).plan
        // The first partial day has 3 h left inside the window (21:00 → 24:00): counted in the index.
        #expect(plan.ranges == [(now - 30 * Self.day)...((today - 29) * Self.day - 1)])
        // Today has 3 h left after `now`: the whole day from the table minus those 3 h.
        #expect(plan.excluded == [(now + 1)...((today + 1) * Self.day - 1)])
        #expect(plan.days?.first == today - 29 && plan.days?.last == today)
    }

    @Test("an early start is counted as its whole day minus the hours before it; a late end from the index")
    func mirrored() {
        let begin = 100 * Self.day + 2 * Self.hour
        let end = 110 * Self.day + 1 * Self.hour
        let plan = BackupDays.Window(begin: begin, end: end).plan
        #expect(plan.excluded == [(100 * Self.day)...(begin - 1)])
        #expect(plan.ranges == [(110 * Self.day)...end])
        #expect(plan.days?.first == 100 && plan.days?.last == 109)
    }

    @Test("aligned, open, short, empty and pre-1970 windows keep their plans")
    func otherShapes() {
        #expect(BackupDays.Window(begin: 5 * Self.day, end: 8 * Self.day - 1).plan == .init(days: (5, 7), ranges: []))
        #expect(BackupDays.Window(begin: nil, end: nil).plan == .init(days: (nil, nil), ranges: []))
        #expect(BackupDays.Window(begin: 5 * Self.day + 1, end: 5 * Self.day + 9).plan == .init(days: nil, ranges: [(5 * Self.day + 1)...(5 * Self.day + 9)]))
        #expect(BackupDays.Window(begin: 9, end: 3).plan == .init(days: nil, ranges: []))
        #expect(BackupDays.Window(begin: -5, end: 7).plan == .init(days: nil, ranges: [-5...7]))
    }
}

import CofferCore
import Foundation
import Testing

/// The wire formats against values computed independently (Python's proleptic-Gregorian `datetime`, which
/// is what the SDK uses), so that a calendar slip on either side shows up as a wrong string.
@Suite("WireTime formats and parsers")
struct WireTimeTests {
    /// Epoch milliseconds and their DCS, IAM, DDM, compact and SDK-date forms.
    struct Vector: Sendable, CustomTestStringConvertible {
        var millis: Int64
        var dcs: String
        var compact: String
        var testDescription: String { self.dcs }
        var iam: String { String(self.dcs.dropLast()) + "000Z" }
        var ddm: String { String(self.dcs.prefix(19)) + "+0000" }
        var sdk: String { String(self.compact.prefix(8)) + "T" + String(self.compact.suffix(6)) + "Z" }
    }

    static let vectors: [Vector] = [
        Vector(millis: 0, dcs: "1970-01-01T00:00:00.000Z", compact: "19700101000000"),
        Vector(millis: 1_557_477_076_166, dcs: "2019-05-10T08:31:16.166Z", compact: "20190510083116"),
        Vector(millis: 1_578_128_929_965, dcs: "2020-01-04T09:08:49.965Z", compact: "20200104090849"),
        Vector(millis: 1_739_933_420_000, dcs: "2025-02-19T02:50:20.000Z", compact: "20250219025020"),
        Vector(millis: 1_709_251_199_000, dcs: "2024-02-29T23:59:59.000Z", compact: "20240229235959"),
        Vector(millis: 951_782_400_000, dcs: "2000-02-29T00:00:00.000Z", compact: "20000229000000"),
        Vector(millis: -1, dcs: "1969-12-31T23:59:59.999Z", compact: "19691231235959"),
        Vector(millis: -11_670_998_400_000, dcs: "1600-02-29T00:00:00.000Z", compact: "16000229000000"),
        Vector(millis: -12_219_681_600_000, dcs: "1582-10-10T12:00:00.000Z", compact: "15821010120000"),
        Vector(millis: -14_826_672_000_000, dcs: "1500-03-01T00:00:00.000Z", compact: "15000301000000"),
        Vector(millis: -62_135_596_800_000, dcs: "0001-01-01T00:00:00.000Z", compact: "00010101000000"),
        Vector(millis: 253_402_300_799_999, dcs: "9999-12-31T23:59:59.999Z", compact: "99991231235959"),
    ]

    @Test("Every format of a known instant", arguments: Self.vectors)
    func formats(vector: Vector) {
        let date = WireTime.date(epochMilliseconds: vector.millis)
        #expect(WireTime.dcs(date) == vector.dcs)
        #expect(WireTime.iam(date) == vector.iam)
        #expect(WireTime.ddm(date) == vector.ddm)
        #expect(WireTime.compact(date) == vector.compact)
        #expect(WireTime.sdkDate(date) == vector.sdk)
        #expect(WireTime.epochMilliseconds(date) == vector.millis)
    }

    @Test("Compact and SDK dates parse back to the whole second", arguments: Self.vectors)
    func parses(vector: Vector) throws {
        let wholeSecond = vector.millis - ((vector.millis % 1000) + 1000) % 1000
        let compact = try #require(WireTime.parseCompact(vector.compact))
        #expect(WireTime.epochMilliseconds(compact) == wholeSecond)
        let sdk = try #require(WireTime.parseSDKDate(vector.sdk))
        #expect(sdk == compact)
    }

    @Test("Sub-millisecond dates format the millisecond they round to, consistently in every format")
    func subMillisecond() {
        let date = Date(timeIntervalSince1970: 1_557_477_076.1664)
        #expect(WireTime.dcs(date) == "2019-05-10T08:31:16.166Z")
        #expect(WireTime.epochMilliseconds(date) == 1_557_477_076_166)
        // Just before a second boundary the millisecond rounds up, and the seconds of every format follow.
        let edge = Date(timeIntervalSince1970: 1_557_477_076.9997)
        #expect(WireTime.dcs(edge) == "2019-05-10T08:31:17.000Z")
        #expect(WireTime.compact(edge) == "20190510083117")
        #expect(WireTime.ddm(edge) == "2019-05-10T08:31:17+0000")
    }

    /// Fails with the old `rounded(.down)`: 2 ms became 0.0019999… s and came back as 1 ms.
    @Test("Epoch milliseconds survive the round trip through Date")
    func epochRoundTrip() {
        var failures: [Int64] = []
        for millis in Int64(-2_000)...2_000 where WireTime.epochMilliseconds(WireTime.date(epochMilliseconds: millis)) != millis {
            failures.append(millis)
        }
        for base in [Int64(1_700_000_000_000), -62_135_596_800_000, WireTime.maxEpochMilliseconds - 5_000] {
            for millis in base...(base + 5_000) where WireTime.epochMilliseconds(WireTime.date(epochMilliseconds: millis)) != millis {
                failures.append(millis)
            }
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50_000 {
            let millis = Int64.random(in: -62_135_596_800_000...WireTime.maxEpochMilliseconds, using: &generator)
            if WireTime.epochMilliseconds(WireTime.date(epochMilliseconds: millis)) != millis { failures.append(millis) }
        }
        #expect(failures.isEmpty, "first: \(failures.prefix(5))")
    }

    @Test("Formatting then parsing gives back every second of sampled days across 0001–9999")
    func compactRoundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let seconds = Int64.random(in: -62_135_596_800...253_402_300_799, using: &generator)
            let date = WireTime.date(epochMilliseconds: seconds * 1000)
            let compact = WireTime.compact(date)
            #expect(compact.utf8.count == 14)
            #expect(WireTime.parseCompact(compact) == date, "\(compact)")
            #expect(WireTime.parseSDKDate(WireTime.sdkDate(date)) == date)
        }
    }

    @Test(
        "Leap days: 29 February only in leap years of the Gregorian calendar",
        arguments: [
            ("20240229000000", true), ("20230229000000", false), ("20000229000000", true), ("19000229000000", false),
            ("21000229000000", false), ("24000229000000", true), ("16000229000000", true),
            // Julian leap years that are not Gregorian ones: Foundation's calendar accepted these.
            ("15000229000000", false), ("13000229000000", false),
        ])
    func leapDays(text: String, valid: Bool) {
        #expect((WireTime.parseCompact(text) != nil) == valid)
    }

    @Test("The days Foundation's calendar skipped for the Julian switch exist on the wire")
    func gregorianCutover() throws {
        // 1582-10-05…14 do not exist in Foundation's Gregorian calendar; they do in ISO 8601 and Python.
        let date = try #require(WireTime.parseCompact("15821010120000"))
        #expect(WireTime.epochMilliseconds(date) == -12_219_681_600_000)
        // Before the switch Foundation counted Julian days: 0001-01-01 came out two days early.
        #expect(WireTime.parseCompact("00010101000000").map(WireTime.epochMilliseconds) == -62_135_596_800_000)
    }

    @Test(
        "Invalid compact times are refused, never rolled over",
        arguments: [
            "", "2019051008311", "201905100831166", "2019-05-10T08:31", "20191301000000", "20190001000000", "20190100000000",
            "20190132000000", "20190431000000", "20190230000000", "20190510240000", "20190510236000", "20190510083160",
            "00000101000000", "2019051008311a", " 2019051008311", "+2019051008311", "-2019051008311", "２０１９０５１０083116",
            "2019051O083116", "20190510083116\u{0}",
        ])
    func invalidCompact(text: String) {
        #expect(WireTime.parseCompact(text) == nil)
    }

    @Test(
        "Invalid SDK dates are refused",
        arguments: [
            "", "20190510083116", "20190510T083116", "20190510T083116z", "20190510t083116Z", "20190510 083116Z", "2019051T0083116Z",
            "20190510T0831160Z", "20191310T083116Z", "20190510T250000Z", "2019-05-10T08:31:16Z",
        ])
    func invalidSDKDate(text: String) {
        #expect(WireTime.parseSDKDate(text) == nil)
    }

    @Test("Epoch-millisecond query values: whole and fractional numbers in range")
    func parsesEpochMilliseconds() {
        #expect(WireTime.parseEpochMilliseconds("0").map(WireTime.epochMilliseconds) == 0)
        #expect(WireTime.parseEpochMilliseconds("1557477076166").map(WireTime.epochMilliseconds) == 1_557_477_076_166)
        #expect(WireTime.parseEpochMilliseconds("1557477076166.9").map(WireTime.epochMilliseconds) == 1_557_477_076_166)
        #expect(WireTime.parseEpochMilliseconds("99999999999999").map(WireTime.epochMilliseconds) == 99_999_999_999_999)
        #expect(WireTime.parseEpochMilliseconds("253402300799999").map(WireTime.epochMilliseconds) == WireTime.maxEpochMilliseconds)
    }

    /// These trapped in the DDM controllers (`Int64(Double(text))`) before `parseEpochMilliseconds` existed.
    @Test(
        "Epoch-millisecond query values out of range or not numbers are refused, never trap",
        arguments: [
            "", "-1", "-0.5", "1e30", "9223372036854775807", "9223372036854775808", "253402300800000", "inf", "infinity", "-inf",
            "nan", "abc", "1,5", "12 ",
        ])
    func invalidEpochMilliseconds(text: String) {
        #expect(WireTime.parseEpochMilliseconds(text) == nil)
    }

    @Test("Out-of-range dates saturate instead of trapping")
    func extremes() {
        // `Double(Int64.max)` is 2^63, one more than `Int64.max`: converting it back trapped.
        #expect(WireTime.epochMilliseconds(WireTime.date(epochMilliseconds: .max)) == .max)
        #expect(WireTime.epochMilliseconds(WireTime.date(epochMilliseconds: .min)) == .min)
        #expect(WireTime.epochMilliseconds(Date(timeIntervalSince1970: 1e300)) == .max)
        #expect(WireTime.epochMilliseconds(Date(timeIntervalSince1970: -1e300)) == .min)
        #expect(WireTime.epochMilliseconds(Date(timeIntervalSince1970: .infinity)) == .max)
        #expect(WireTime.epochMilliseconds(Date(timeIntervalSince1970: .nan)) == 0)
        // Foundation's own far ends. `distantPast` is 0001-01-01 of the Julian calendar, two days before the
        // Gregorian year 1 (Python: `datetime(1, 1, 1) - timedelta(days=2)` is out of its range).
        #expect(WireTime.dcs(.distantFuture) == "4001-01-01T00:00:00.000Z")
        #expect(WireTime.compact(.distantPast) == "00001230000000")
        #expect(WireTime.parseCompact(WireTime.compact(.distantPast)) == nil)
        // Beyond year 9999 the year widens (no trap); such a string is not parsed back.
        let far = WireTime.date(epochMilliseconds: WireTime.maxEpochMilliseconds + 1)
        #expect(WireTime.compact(far) == "100000101000000")
        #expect(WireTime.parseCompact(WireTime.compact(far)) == nil)
        #expect(WireTime.dcs(WireTime.date(epochMilliseconds: .max)).hasSuffix("Z"))
        #expect(WireTime.dcs(WireTime.date(epochMilliseconds: .min)).hasPrefix("-"))
    }
}

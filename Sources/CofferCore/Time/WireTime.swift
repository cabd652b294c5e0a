import Foundation

/// The timestamp formats of each service (reference section 8, item 10), formatted and parsed in UTC.
///
/// Every format is computed from the whole milliseconds of `epochMilliseconds(_:)` with proleptic Gregorian
/// arithmetic, as ISO 8601 and Python's `datetime` (the SDK side) count days. Foundation's `Calendar` was not
/// used because its Gregorian calendar switches to the Julian one before 1582-10-15, which shifted old dates
/// by days and accepted or refused days the SDK sees differently (e.g. 1500-02-29).
package enum WireTime {
    /// The last millisecond every format can write with a four-digit year: 9999-12-31T23:59:59.999Z.
    package static let maxEpochMilliseconds: Int64 = 253_402_300_799_999

    /// DCS: `2019-05-10T08:31:16.166Z`.
    package static func dcs(_ date: Date) -> String { Self.format(date, microseconds: false) }

    /// `dcs(date)` appended as UTF-8 to `out`, for encoders that write a body byte by byte (a list page).
    package static func appendDCS(_ date: Date, to out: inout [UInt8]) {
        Self.appendFormatted(date, microseconds: false, to: &out)
    }

    /// IAM: `2020-01-04T09:08:49.965000Z`.
    package static func iam(_ date: Date) -> String { Self.format(date, microseconds: true) }

    /// DDM: `2025-02-19T02:50:20+0000`.
    package static func ddm(_ date: Date) -> String {
        var out = Self.dateAndTime(Civil(epochMilliseconds: Self.epochMilliseconds(date)), compact: false)
        out.append(contentsOf: "+0000".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    /// Compact `yyyyMMddHHmmss` (DCS query parameters and backup names).
    package static func compact(_ date: Date) -> String {
        String(decoding: Self.dateAndTime(Civil(epochMilliseconds: Self.epochMilliseconds(date)), compact: true), as: UTF8.self)
    }

    /// Parses `yyyyMMddHHmmss` (UTC), strictly: 14 ASCII digits and a real calendar date in years 0001–9999.
    package static func parseCompact(_ text: String) -> Date? {
        let digits = Array(text.utf8)
        guard digits.count == 14, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        func number(_ range: Range<Int>) -> Int64 { range.reduce(0) { $0 * 10 + Int64(digits[$1] - UInt8(ascii: "0")) } }
        let year = number(0..<4)
        let month = number(4..<6)
        let day = number(6..<8)
        let hour = number(8..<10)
        let minute = number(10..<12)
        let second = number(12..<14)
        // No rolling over: month 13, February 30, hour 24 and second 60 (a leap second) are refused.
        guard year >= 1, (1...12).contains(month), day >= 1, day <= Civil.daysIn(month: month, year: year), (0...23).contains(hour),
            (0...59).contains(minute), (0...59).contains(second)
        else { return nil }
        let seconds = Civil.days(year: year, month: month, day: day) * 86_400 + hour * 3_600 + minute * 60 + second
        return Self.date(epochMilliseconds: seconds * 1_000)
    }

    /// Parses the AK/SK `X-Sdk-Date` format `yyyyMMdd'T'HHmmss'Z'`.
    package static func parseSDKDate(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        return Self.parseCompact(String(decoding: bytes[0..<8] + bytes[9..<15], as: UTF8.self))
    }

    /// Formats a date as `X-Sdk-Date`.
    package static func sdkDate(_ date: Date) -> String {
        let compact = Self.compact(date)
        return String(compact.prefix(8)) + "T" + String(compact.suffix(6)) + "Z"
    }

    /// Parses a query parameter given in epoch milliseconds (DDM `start_time`, `restore_time` …): a number
    /// from 0 to `maxEpochMilliseconds`, fractions dropped. Nil for anything else — never traps, so a value
    /// such as `1e30` is a parameter error rather than a crash.
    package static func parseEpochMilliseconds(_ text: String) -> Date? {
        guard let value = Double(text), value.isFinite, value >= 0, value <= Double(Self.maxEpochMilliseconds) else { return nil }
        return Self.date(epochMilliseconds: Int64(value.rounded(.towardZero)))
    }

    /// Milliseconds since 1970, the storage form of every timestamp.
    ///
    /// Rounded to the nearest millisecond, not down: `date(epochMilliseconds:)` cannot hold most
    /// millisecond values exactly (0.002 s is a little less than 2 ms), and rounding down turned such a
    /// date into the millisecond before. Saturates at the ends of `Int64` (NaN gives 0) instead of trapping.
    package static func epochMilliseconds(_ date: Date) -> Int64 {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded()
        guard !milliseconds.isNaN else { return 0 }
        return Int64(exactly: milliseconds) ?? (milliseconds < 0 ? .min : .max)
    }

    /// Inverse of `epochMilliseconds`.
    package static func date(epochMilliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(epochMilliseconds) / 1000) }

    private static func format(_ date: Date, microseconds: Bool) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        Self.appendFormatted(date, microseconds: microseconds, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static func appendFormatted(_ date: Date, microseconds: Bool, to out: inout [UInt8]) {
        let c = Civil(epochMilliseconds: Self.epochMilliseconds(date))
        Self.appendDateAndTime(c, compact: false, to: &out)
        out.append(UInt8(ascii: "."))
        Self.append(c.millisecond, digits: 3, to: &out)
        if microseconds { out.append(contentsOf: "000".utf8) }
        out.append(UInt8(ascii: "Z"))
    }

    /// `yyyy-MM-ddTHH:mm:ss`, or `yyyyMMddHHmmss` when compact. Byte appends rather than `String(format:)`:
    /// a list page formats tens of dates, and formatting was a tenth of the list path's CPU.
    private static func dateAndTime(_ c: Civil, compact: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        Self.appendDateAndTime(c, compact: compact, to: &out)
        return out
    }

    private static func appendDateAndTime(_ c: Civil, compact: Bool, to out: inout [UInt8]) {
        func field(_ separator: Unicode.Scalar, _ value: Int64) {
            if !compact { out.append(UInt8(ascii: separator)) }
            Self.append(value, digits: 2, to: &out)
        }
        Self.append(c.year, digits: 4, to: &out)
        field("-", c.month)
        field("-", c.day)
        field("T", c.hour)
        field(":", c.minute)
        field(":", c.second)
    }

    /// `value` in decimal, zero-padded to `digits` (more when it needs them; a minus sign first when negative).
    /// Digits are written in place, last first, so that no temporary array is made per number.
    private static func append(_ value: Int64, digits: Int, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var count = 0
        var rest = magnitude
        repeat {
            count += 1
            rest /= 10
        } while rest > 0
        let width = max(count, digits)
        let start = out.count
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width))
        var index = start + width - 1
        repeat {
            out[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
            index -= 1
        } while magnitude > 0
    }
}

/// A UTC date and time in the proleptic Gregorian calendar (Howard Hinnant's `civil_from_days` and
/// `days_from_civil`), exact for every `Int64` millisecond count.
private struct Civil {
    var year: Int64
    var month: Int64
    var day: Int64
    var hour: Int64
    var minute: Int64
    var second: Int64
    var millisecond: Int64

    init(epochMilliseconds ms: Int64) {
        // Remainder first: `days * 86_400_000` overflows for the lowest `Int64` values.
        let remainder = ms % 86_400_000
        let inDay = remainder < 0 ? remainder + 86_400_000 : remainder
        let days = ms / 86_400_000 - (remainder < 0 ? 1 : 0)
        let z = days + 719_468
        let era = z.floorDiv(146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        self.day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        self.month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        self.year = yearOfEra + era * 400 + (self.month <= 2 ? 1 : 0)
        self.hour = inDay / 3_600_000
        self.minute = inDay / 60_000 % 60
        self.second = inDay / 1_000 % 60
        self.millisecond = inDay % 1_000
    }

    /// Days from 1970-01-01 to the given date.
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = y.floorDiv(400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

extension Int64 {
    fileprivate func floorDiv(_ divisor: Int64) -> Int64 {
        let q = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? q - 1 : q
    }
}

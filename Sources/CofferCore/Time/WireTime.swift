import Foundation

/// The timestamp formats of each service (reference section 8, item 10), formatted and parsed in UTC.
package enum WireTime {
    /// DCS: `2019-05-10T08:31:16.166Z`.
    package static func dcs(_ date: Date) -> String { Self.format(date, fractionDigits: 3) }

    /// IAM: `2020-01-04T09:08:49.965000Z`.
    package static func iam(_ date: Date) -> String { Self.format(date, fractionDigits: 6) }

    /// DDM: `2025-02-19T02:50:20+0000`.
    package static func ddm(_ date: Date) -> String {
        let c = Self.fields(date)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d+0000", c.year, c.month, c.day, c.hour, c.minute, c.second)
    }

    /// Compact `yyyyMMddHHmmss` (DCS query parameters and backup names).
    package static func compact(_ date: Date) -> String {
        let c = Self.fields(date)
        return String(format: "%04d%02d%02d%02d%02d%02d", c.year, c.month, c.day, c.hour, c.minute, c.second)
    }

    /// Parses `yyyyMMddHHmmss` (UTC), strictly: 14 digits and a real calendar date.
    package static func parseCompact(_ text: String) -> Date? {
        guard text.utf8.count == 14, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        let digits = Array(text.utf8).map { Int($0 - 48) }
        func number(_ range: Range<Int>) -> Int { range.reduce(0) { $0 * 10 + digits[$1] } }
        var c = DateComponents()
        c.year = number(0..<4)
        c.month = number(4..<6)
        c.day = number(6..<8)
        c.hour = number(8..<10)
        c.minute = number(10..<12)
        c.second = number(12..<14)
        guard let date = Self.calendar.date(from: c) else { return nil }
        // Reject values the calendar would roll over (month 13, February 30, hour 24 …).
        let back = Self.components(date)
        guard back.year == c.year, back.month == c.month, back.day == c.day, back.hour == c.hour,
            back.minute == c.minute, back.second == c.second
        else { return nil }
        return date
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

    /// The epoch milliseconds a request may give (1970-01-01 to 9999-12-31T23:59:59.999Z): what every
    /// formatter here can show and `epochMilliseconds` can store exactly.
    package static let epochMillisecondsRange: ClosedRange<Int64> = 0...253_402_300_799_999

    /// Milliseconds since 1970, the storage form of every timestamp.
    ///
    /// Saturates instead of trapping: `Int64(Double)` traps past ±2^63 (a date 292 million years away) and on
    /// NaN, and a date from a request must never stop the server.
    package static func epochMilliseconds(_ date: Date) -> Int64 {
        let millis = (date.timeIntervalSince1970 * 1000).rounded(.down)
        if millis.isNaN { return 0 }
        if millis >= 9_223_372_036_854_775_807.0 { return .max }
        if millis <= -9_223_372_036_854_775_808.0 { return .min }
        return Int64(millis)
    }

    /// Inverse of `epochMilliseconds`.
    package static func date(epochMilliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(epochMilliseconds) / 1000) }

    private static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    private static func components(_ date: Date) -> DateComponents {
        Self.calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .nanosecond], from: date)
    }

    /// The calendar fields to print, 0 for any the calendar does not give (no force unwraps on dates).
    private static func fields(_ date: Date) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        let c = Self.components(date)
        return (c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
    }

    private static func format(_ date: Date, fractionDigits: Int) -> String {
        let ms = WireTime.epochMilliseconds(date)
        let whole = Date(timeIntervalSince1970: Double(ms.floorDiv(1000)))
        let c = Self.fields(whole)
        // `ms - floorDiv(ms, 1000) * 1000` overflows for Int64.min; the non-negative remainder cannot.
        let millis = Int((ms % 1000 + 1000) % 1000)
        let fraction = fractionDigits == 3 ? String(format: "%03d", millis) : String(format: "%03d000", millis)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.", c.year, c.month, c.day, c.hour, c.minute, c.second)
            + fraction + "Z"
    }
}

extension Int64 {
    fileprivate func floorDiv(_ divisor: Int64) -> Int64 {
        let q = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? q - 1 : q
    }
}

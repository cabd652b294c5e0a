import CofferCore
import Foundation

extension APIRequest {
    /// An integer query parameter within `range`, `defaultValue` when absent.
    /// - Throws: the family's invalid-parameter error naming the parameter.
    func intQuery(_ name: String, in range: ClosedRange<Int>, default defaultValue: Int) throws -> Int {
        guard let text = self.query[name] else { return defaultValue }
        guard let value = Int(text), range.contains(value) else {
            throw self.invalidParameter(name, "Expected an integer from \(range.lowerBound) to \(range.upperBound).")
        }
        return value
    }

    /// A `yyyyMMddHHmmss` UTC time from the first of `names` present.
    func compactTimeQuery(_ names: String...) throws -> Date? {
        for name in names {
            guard let text = self.query[name] else { continue }
            guard let date = WireTime.parseCompact(text) else {
                throw self.invalidParameter(name, "Expected a UTC time as yyyyMMddHHmmss, e.g. 20170718235959.")
            }
            return date
        }
        return nil
    }

    /// A time given as epoch milliseconds (DDM `start_time`, `end_time`, `restore_time`), nil when absent.
    ///
    /// The SDK sends whatever number the caller passed (`time.time() * 1000` is a float), so any decimal number
    /// is read and its fraction dropped, but only within `WireTime.maxEpochMilliseconds` (years 1970 to 9999):
    /// `Int64(Double)` traps on `1e19`, `inf` or `9223372036854775808`, and a date past year 9999 overflowed
    /// later, where the store turns it back into milliseconds.
    /// - Throws: the family's invalid-parameter error naming the parameter.
    func epochMillisecondsQuery(_ name: String) throws -> Date? {
        guard let text = self.query[name] else { return nil }
        guard let date = WireTime.parseEpochMilliseconds(text) else {
            throw self.invalidParameter(name, "Expected epoch milliseconds from 0 to \(WireTime.maxEpochMilliseconds).")
        }
        return date
    }

    /// The family's invalid-parameter error.
    func invalidParameter(_ name: String, _ detail: String? = nil) -> CofferError { self.family.invalidParameter(name, detail) }
}

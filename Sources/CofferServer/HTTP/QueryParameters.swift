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

    /// The family's invalid-parameter error.
    func invalidParameter(_ name: String, _ detail: String? = nil) -> CofferError {
        switch self.family {
        case .dcs, .operations: DCSError.invalidParameter(name, detail)
        case .iam: IAMError.invalidParameter(name)
        case .ddm: CofferError(status: 400, code: "DBS.280001", message: "Parameter error: \(name)." + (detail.map { " \($0)" } ?? ""))
        }
    }
}

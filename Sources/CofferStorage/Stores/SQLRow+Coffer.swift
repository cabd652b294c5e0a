import CofferCore
import Foundation
import SQLKit

extension SQLRow {
    /// A non-null epoch-milliseconds column as a `Date`.
    func date(_ column: String) throws -> Date {
        WireTime.date(epochMilliseconds: try self.decode(column: column, as: Int64.self))
    }

    /// A nullable epoch-milliseconds column.
    func optionalDate(_ column: String) throws -> Date? {
        try self.decode(column: column, as: Int64?.self).map { WireTime.date(epochMilliseconds: $0) }
    }

    func string(_ column: String) throws -> String { try self.decode(column: column, as: String.self) }
    func optionalString(_ column: String) throws -> String? { try self.decode(column: column, as: String?.self) }
    func int(_ column: String) throws -> Int { Int(try self.decode(column: column, as: Int64.self)) }
}

/// Epoch milliseconds of a date, the storage form.
func millis(_ date: Date) -> Int64 { WireTime.epochMilliseconds(date) }
func millis(_ date: Date?) -> Int64? { date.map { WireTime.epochMilliseconds($0) } }

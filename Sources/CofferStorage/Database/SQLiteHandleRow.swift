import SQLKit
import SQLiteKit
import SQLiteNIO

/// A result row of `SQLiteHandle` as an `SQLRow`.
///
/// The types the stores read (text, 64-bit integers, doubles and their optionals) are taken straight from
/// the stored value when its SQLite type matches; anything else goes through `SQLiteDataDecoder`, exactly as
/// sqlite-kit's rows decode. The generic decoder was about 6 % of a list request's CPU (an optional went
/// through a decoder object allocated per value).
struct SQLiteHandleRow: SQLRow, Sendable {
    let columns: SQLiteColumns
    let values: [SQLiteData]

    var allColumns: [String] { self.columns.names }

    func contains(column: String) -> Bool { self.columns.indexes[column] != nil }

    func decodeNil(column: String) throws -> Bool {
        try self.decodeNil(column: column, position: nil)
    }

    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        try self.decode(column: column, position: nil, as: type)
    }

    /// The index of `column`: `position` when the caller's guess is right (one string comparison), else a
    /// lookup by name. Readers of wide rows that know their select list's order pass it: hashing every
    /// column name showed in a list request's profile.
    private func index(of column: String, position: Int?) -> Int? {
        if let position, position < self.columns.names.count, self.columns.names[position] == column { return position }
        return self.columns.indexes[column]
    }

    func decodeNil(column: String, position: Int?) throws -> Bool {
        guard let index = self.index(of: column, position: position) else { return true }
        return self.values[index] == .null
    }

    func decode<D: Decodable>(column: String, position: Int?, as type: D.Type) throws -> D {
        guard let index = self.index(of: column, position: position) else { throw MissingColumn(column: column) }
        let data = self.values[index]
        // The exact types first, by metatype identity: a dynamic cast (`as? D`) costs a runtime type lookup per
        // value, which showed in a list request's profile. The bit casts are between identical types.
        switch data {
        case .text(let text):
            if D.self == String.self { return unsafeBitCast(text, to: D.self) }
            if let value = text as? D { return value }  // String?
        case .integer(let integer):
            if D.self == Int64.self { return unsafeBitCast(Int64(integer), to: D.self) }
            if D.self == Int.self { return unsafeBitCast(Int(integer), to: D.self) }
            if let value = Int64(integer) as? D { return value }  // Int64?
            if let value = Int(integer) as? D { return value }  // Int?
        case .float(let double):
            if D.self == Double.self { return unsafeBitCast(double, to: D.self) }
            if let value = double as? D { return value }  // Double?
        case .null:
            if let none = (D.self as? any ExpressibleByNilLiteral.Type)?.init(nilLiteral: ()) as? D { return none }
        case .blob:
            break
        }
        return try Self.decoder.decode(D.self, from: data)
    }

    private static let decoder = SQLiteDataDecoder()

    /// The column a caller asked for is not in the result.
    struct MissingColumn: Error, CustomStringConvertible {
        let column: String
        var description: String { "no column \(self.column) in the result" }
    }
}

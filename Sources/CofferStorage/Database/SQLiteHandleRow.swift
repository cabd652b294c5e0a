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
        guard let index = self.columns.indexes[column] else { return true }
        return self.values[index] == .null
    }

    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        guard let index = self.columns.indexes[column] else { throw MissingColumn(column: column) }
        let data = self.values[index]
        switch data {
        case .text(let text):
            if let value = text as? D { return value }  // String and String? alike
        case .integer(let integer):
            if let value = Int64(integer) as? D { return value }
            if let value = Int(integer) as? D { return value }
        case .float(let double):
            if let value = double as? D { return value }
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

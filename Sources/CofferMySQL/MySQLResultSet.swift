/// The text-protocol answer to a statement: column names and rows of optional strings (SQL NULL is nil).
package struct MySQLResultSet: Sendable, Equatable {
    package var columns: [String]
    package var rows: [[String?]]
    /// Rows changed by a statement without a result set.
    package var affectedRows: UInt64

    package init(columns: [String] = [], rows: [[String?]] = [], affectedRows: UInt64 = 0) {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
    }

    /// The value of `column` in row `row`, by column name (case-insensitive).
    package func value(_ column: String, row: Int = 0) -> String? {
        guard row < self.rows.count, let index = self.columns.firstIndex(where: { $0.lowercased() == column.lowercased() })
        else { return nil }
        return self.rows[row][index]
    }
}

/// An aligned plain-text table: the human output of the list commands.
struct TextTable {
    var headers: [String]
    var rows: [[String]] = []

    init(_ headers: String...) { self.headers = headers }

    mutating func add(_ cells: String...) { self.rows.append(cells) }

    /// Columns padded to their widest cell (counted in characters), two spaces apart, no trailing blanks.
    func render() -> String {
        var widths = self.headers.map(\.count)
        for row in self.rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            var out = ""
            for (index, cell) in cells.enumerated() {
                let last = index == cells.count - 1
                out += last ? cell : cell + String(repeating: " ", count: widths[index] - cell.count + 2)
            }
            // An empty last column leaves padding behind; no line ends in blanks.
            while out.last == " " { out.removeLast() }
            return out
        }
        return ([line(self.headers)] + self.rows.map(line)).joined(separator: "\n")
    }
}

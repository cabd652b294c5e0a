import CofferCore
import Foundation
import NIOCore

/// An `application/x-www-form-urlencoded` body, as the console's forms send it.
struct ConsoleForm: Sendable {
    private(set) var fields: [String: String] = [:]

    /// Parses `body`; `+` is a space, `%XX` a byte; the first value of a repeated name wins.
    init(body: ByteBuffer) {
        let text = String(buffer: body)
        for pair in text.split(separator: "&") {
            let pieces = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.decode(pieces[0])
            if self.fields[name] == nil { self.fields[name] = pieces.count > 1 ? Self.decode(pieces[1]) : "" }
        }
    }

    subscript(_ name: String) -> String? { self.fields[name] }

    private static func decode(_ text: Substring) -> String {
        PercentDecoding.decode(text.replacingOccurrences(of: "+", with: " "))
    }
}

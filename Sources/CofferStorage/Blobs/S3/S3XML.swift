import Foundation

/// Just enough XML for S3's answers (`UploadId`, `<Error>`, `ListMultipartUploadsResult`): the text of
/// named elements, which S3 never nests inside elements of the same name. Not a general parser, and
/// no dependency on libxml2 (FoundationXML) for it.
enum S3XML {
    /// The text of every `<tag>…</tag>` in `text`, entity-decoded, in order.
    static func values(_ tag: String, in text: Substring) -> [String] {
        Self.elements(tag, in: text).map { Self.unescape($0) }
    }

    static func value(_ tag: String, in text: Substring) -> String? {
        Self.values(tag, in: text).first
    }

    /// The raw content of every `<tag>…</tag>` (for blocks such as `<Upload>`).
    static func elements(_ tag: String, in text: Substring) -> [Substring] {
        let open = "<\(tag)>"
        let close = "</\(tag)>"
        var found: [Substring] = []
        var rest = text[...]
        while let start = rest.range(of: open), let end = rest[start.upperBound...].range(of: close) {
            found.append(rest[start.upperBound..<end.lowerBound])
            rest = rest[end.upperBound...]
        }
        return found
    }

    static func unescape(_ text: Substring) -> String {
        guard text.contains("&") else { return String(text) }
        return text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&#34;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

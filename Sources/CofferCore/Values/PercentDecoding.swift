/// Percent-decoding of URL paths and queries as Python's `urllib.parse.unquote` does it, which is what the
/// Huawei SDK signs: the router and the SDK-HMAC-SHA256 check must decode a path the same way.
package enum PercentDecoding {
    /// `%XX` sequences become bytes (decoded as UTF-8, invalid sequences replaced); a `%` not followed by
    /// two hex digits stays as it is; `+` stays `+`.
    package static func decode(_ text: String) -> String {
        guard text.utf8.contains(UInt8(ascii: "%")) else { return text }
        var bytes: [UInt8] = []
        let input = Array(text.utf8)
        var i = 0
        while i < input.count {
            if input[i] == UInt8(ascii: "%"), i + 2 < input.count, let high = Hex.value(input[i + 1]), let low = Hex.value(input[i + 2]) {
                bytes.append(high << 4 | low)
                i += 3
            } else {
                bytes.append(input[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

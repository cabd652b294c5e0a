/// A JSON body written byte by byte, for the few responses where `JSONEncoder` is most of the request's
/// CPU (the backup list: a page of records, each a dozen fields).
///
/// It writes what `JSONCoding.encoder` with `.sortedKeys` added would write for the same values: keys in the order the caller
/// gives them (which must be sorted), no whitespace, `/` unescaped, and strings escaped as JSONEncoder
/// escapes them (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other controls as `\u00xx`, everything else as
/// UTF-8). Each DTO that uses it has a test holding its output byte-equal to that encoder's.
struct JSONBytes {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int) {
        self.bytes.reserveCapacity(capacity)
    }

    /// Punctuation and keys: text that needs no escaping, written as is.
    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { self.bytes.append(contentsOf: $0) }
    }

    /// `"key":`, for a key that needs no escaping; a comma first unless it is the object's first member.
    mutating func key(_ name: StaticString, first: Bool = false) {
        if !first { self.bytes.append(UInt8(ascii: ",")) }
        self.bytes.append(UInt8(ascii: "\""))
        self.raw(name)
        self.bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }

    mutating func int(_ value: some BinaryInteger) {
        self.bytes.append(contentsOf: String(value).utf8)
    }

    /// A quoted string whose content the caller appends as UTF-8 that needs no escaping (a formatted time).
    mutating func quoted(_ write: (inout [UInt8]) -> Void) {
        self.bytes.append(UInt8(ascii: "\""))
        write(&self.bytes)
        self.bytes.append(UInt8(ascii: "\""))
    }

    /// A quoted, escaped string.
    mutating func string(_ value: String) {
        self.bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            // Most strings (ids, names, times) need no escape: copy runs between escapes in one go.
            var runStart = 0
            for (index, byte) in utf8.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                self.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                self.escape(byte)
                runStart = index + 1
            }
            self.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        self.bytes.append(UInt8(ascii: "\""))
    }

    private mutating func escape(_ byte: UInt8) {
        let short: UInt8? =
            switch byte {
            case UInt8(ascii: "\""): UInt8(ascii: "\"")
            case UInt8(ascii: "\\"): UInt8(ascii: "\\")
            case 0x08: UInt8(ascii: "b")
            case 0x0C: UInt8(ascii: "f")
            case 0x0A: UInt8(ascii: "n")
            case 0x0D: UInt8(ascii: "r")
            case 0x09: UInt8(ascii: "t")
            default: nil
            }
        self.bytes.append(UInt8(ascii: "\\"))
        if let short {
            self.bytes.append(short)
            return
        }
        let hex = Array("0123456789abcdef".utf8)
        self.bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
    }
}

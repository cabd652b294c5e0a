import CofferCore
import Foundation
import Testing

@Suite("JSONValue coding")
struct JSONValueTests {
    static func decode(_ text: String) throws -> JSONValue { try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) }

    static func encode(_ value: JSONValue) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    @Test("Each JSON kind decodes to its case")
    func decodes() throws {
        #expect(try Self.decode("null") == .null)
        #expect(try Self.decode("true") == .bool(true))
        #expect(try Self.decode("false") == .bool(false))
        #expect(try Self.decode("0") == .number(0))
        #expect(try Self.decode("1") == .number(1))
        #expect(try Self.decode("-12.5") == .number(-12.5))
        #expect(try Self.decode("1e3") == .number(1000))
        #expect(try Self.decode(#""""#) == .string(""))
        #expect(try Self.decode(#""héllo \"x\" \u00e9/""#) == .string("héllo \"x\" é/"))
        #expect(try Self.decode("[]") == .array([]))
        #expect(try Self.decode("{}") == .object([:]))
        #expect(
            try Self.decode(#"{"a": [1, "two", null, {"b": false}], "c": {"d": 0.25}}"#)
                == .object([
                    "a": .array([.number(1), .string("two"), .null, .object(["b": .bool(false)])]), "c": .object(["d": .number(0.25)]),
                ]))
    }

    @Test("Numbers 1 and 0 stay numbers and the strings \"true\" and \"1\" stay strings")
    func noCoercion() throws {
        #expect(try Self.decode("[1, 0, \"true\", \"1\", true]") == .array([.number(1), .number(0), .string("true"), .string("1"), .bool(true)]))
    }

    @Test("Integers encode without a fraction; other numbers keep theirs")
    func encodesNumbers() throws {
        #expect(try Self.encode(.number(3)) == "3")
        #expect(try Self.encode(.number(-3)) == "-3")
        #expect(try Self.encode(.number(-0.0)) == "0")
        #expect(try Self.encode(.number(880_232)) == "880232")
        #expect(try Self.encode(.number(1_732_000_000_123)) == "1732000000123")
        #expect(try Self.encode(.number(0.125)) == "0.125")
        #expect(try Self.encode(.number(-2.5)) == "-2.5")
        // At and beyond 9e15 integers are no longer all exact in a Double; they go out as doubles.
        #expect(try Self.decode(try Self.encode(.number(1e16))) == .number(1e16))
    }

    @Test("NaN and infinity are encoding errors, not traps")
    func nonFinite() {
        #expect(throws: EncodingError.self) { try Self.encode(.number(.nan)) }
        #expect(throws: EncodingError.self) { try Self.encode(.number(.infinity)) }
        #expect(throws: EncodingError.self) { try Self.encode(.array([.number(-.infinity)])) }
    }

    @Test("Encoding and decoding again gives the same value")
    func roundTrip() throws {
        let value: JSONValue = .object([
            "null": .null, "yes": .bool(true), "int": .number(42), "fraction": .number(-0.5), "text": .string("a \"quoted\" ☃ line\n"),
            "list": .array([.array([]), .object([:]), .number(1e-7), .string("")]),
            "nested": .object(["vpc_id": .string("vpc-1"), "tags": .array([.object(["key": .string("k"), "value": .string("v")])])]),
        ])
        let text = try Self.encode(value)
        #expect(try Self.decode(text) == value)
        #expect(text.hasPrefix(#"{"fraction":-0.5,"int":42,"#))
    }

    /// (Foundation's decoder accepts a trailing comma, `[1,]`, so it is not listed.)
    @Test("Malformed JSON is a decoding error", arguments: ["", "{", "[1", "{\"a\" 1}", "nul", "'x'", "{1: 2}", "[1] [2]"])
    func malformed(text: String) {
        #expect(throws: (any Error).self) { try Self.decode(text) }
    }

    @Test("stringValue is the string of a string and nil otherwise")
    func stringValue() {
        #expect(JSONValue.string("x").stringValue == "x")
        #expect(JSONValue.number(1).stringValue == nil)
        #expect(JSONValue.null.stringValue == nil)
        #expect(JSONValue.array([.string("x")]).stringValue == nil)
    }
}

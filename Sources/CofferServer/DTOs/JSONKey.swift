/// A coding key made from any string: for DTOs whose field set depends on the object (fields shown
/// only when present, show-only fields), written out key by key.
struct JSONKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { self.stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

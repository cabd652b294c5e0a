import CofferCore

/// Typed, validating access to a JSON object from a request body.
///
/// Each accessor throws the family's invalid-parameter error naming the field (`Invalid port in the
/// request.`), so a wrong type is always a 400 that says which field, never a 500.
package struct JSONObject: Sendable {
    package let fields: [String: JSONValue]
    private let path: String
    private let family: APIFamily

    init(_ fields: [String: JSONValue], path: String, family: APIFamily) {
        self.fields = fields
        self.path = path
        self.family = family
    }

    private func name(_ key: String) -> String { self.path.isEmpty ? key : self.path + "." + key }

    package func invalid(_ key: String, _ detail: String? = nil) -> CofferError { self.family.invalidParameter(self.name(key), detail) }

    /// Whether the key is present with a non-null value.
    package func has(_ key: String) -> Bool {
        if let value = self.fields[key], value != .null { return true }
        return false
    }

    package func string(_ key: String) throws -> String? {
        switch self.fields[key] {
        case nil, .null?: return nil
        case .string(let value)?: return value
        default: throw self.invalid(key, "Expected a string.")
        }
    }

    package func requiredString(_ key: String) throws -> String {
        guard let value = try self.string(key) else { throw self.invalid(key, "The field is required.") }
        return value
    }

    package func int(_ key: String) throws -> Int? {
        switch self.fields[key] {
        case nil, .null?: return nil
        case .number(let value)?:
            guard value.rounded() == value, abs(value) < 9e15 else { throw self.invalid(key, "Expected an integer.") }
            return Int(value)
        default: throw self.invalid(key, "Expected an integer.")
        }
    }

    package func double(_ key: String) throws -> Double? {
        switch self.fields[key] {
        case nil, .null?: return nil
        case .number(let value)?: return value
        default: throw self.invalid(key, "Expected a number.")
        }
    }

    package func bool(_ key: String) throws -> Bool? {
        switch self.fields[key] {
        case nil, .null?: return nil
        case .bool(let value)?: return value
        default: throw self.invalid(key, "Expected true or false.")
        }
    }

    package func object(_ key: String) throws -> JSONObject? {
        switch self.fields[key] {
        case nil, .null?: return nil
        case .object(let value)?: return JSONObject(value, path: self.name(key), family: self.family)
        default: throw self.invalid(key, "Expected an object.")
        }
    }

    package func array(_ key: String) throws -> [JSONValue]? {
        switch self.fields[key] {
        case nil, .null?: return nil
        case .array(let value)?: return value
        default: throw self.invalid(key, "Expected an array.")
        }
    }
}

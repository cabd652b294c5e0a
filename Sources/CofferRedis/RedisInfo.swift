/// The parsed reply of `INFO`: `# Section` headers followed by `key:value` lines.
///
/// Kept as plain strings per section because the field set changes between Redis versions; the typed
/// accessors cover the fields the server uses (version checks, memory sizing of backups, keyspace
/// counts for progress) and return `nil` when a field is absent, e.g. when only one section was asked for.
package struct RedisInfo: Sendable, Equatable {
    /// Key counts of one logical database, from a `db<n>:keys=…,expires=…` line of `# Keyspace`.
    package struct DatabaseKeyCount: Sendable, Equatable {
        /// Number of keys.
        package var keys: Int
        /// Number of keys with a time to live.
        package var expires: Int

        /// Creates a key count.
        package init(keys: Int, expires: Int) {
            self.keys = keys
            self.expires = expires
        }
    }

    /// Fields by lower-cased section name (`server`, `memory`, `keyspace`, …), then by field name.
    package var sections: [String: [String: String]]

    /// Parses the text of an `INFO` reply.
    ///
    /// Lines before the first header land in section `""`; blank lines and lines without `:` are skipped,
    /// so unknown formatting never makes the whole reply unusable.
    ///
    /// - Parameter text: The bulk string returned by `INFO`.
    package init(parsing text: String) {
        var sections: [String: [String: String]] = [:]
        var current = ""
        // `Character.isNewline` covers "\r\n", which Swift treats as one character.
        for line in text.split(whereSeparator: { $0.isNewline }) {
            if line.hasPrefix("#") {
                current = line.dropFirst().drop(while: { $0 == " " }).lowercased()
                if sections[current] == nil {
                    sections[current] = [:]
                }
                continue
            }
            guard let colon = line.firstIndex(of: ":") else {
                continue
            }
            sections[current, default: [:]][String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        self.sections = sections
    }

    /// The value of a field.
    ///
    /// - Parameters:
    ///   - key: Field name, e.g. `used_memory`.
    ///   - section: Section to look in (any case), or `nil` to search every section.
    /// - Returns: The raw value, or `nil` when absent.
    package func value(_ key: String, in section: String? = nil) -> String? {
        if let section {
            return self.sections[section.lowercased()]?[key]
        }
        for fields in self.sections.values {
            if let value = fields[key] {
                return value
            }
        }
        return nil
    }

    /// `redis_version`, e.g. `7.0.15`.
    package var redisVersion: String? {
        self.value("redis_version", in: "server")
    }

    /// `used_memory`: bytes allocated by Redis, the best cheap estimate of an RDB's upper size.
    package var usedMemory: Int? {
        self.value("used_memory", in: "memory").flatMap { Int($0) }
    }

    /// `maxmemory` in bytes; `0` means unlimited.
    package var maxMemory: Int? {
        self.value("maxmemory", in: "memory").flatMap { Int($0) }
    }

    /// `total_system_memory` in bytes, the ceiling when `maxmemory` is unlimited.
    package var totalSystemMemory: Int? {
        self.value("total_system_memory", in: "memory").flatMap { Int($0) }
    }

    /// `role`: `master` or `slave`.
    package var role: String? {
        self.value("role", in: "replication")
    }

    /// Key counts per database number from `# Keyspace`; empty when no database holds keys (Redis omits
    /// empty databases) and `nil` when the keyspace section was not part of the reply.
    package var dbKeyCounts: [Int: DatabaseKeyCount]? {
        guard let keyspace = self.sections["keyspace"] else {
            return nil
        }
        var counts: [Int: DatabaseKeyCount] = [:]
        for (name, value) in keyspace {
            guard name.hasPrefix("db"), let index = Int(name.dropFirst(2)) else {
                continue
            }
            var fields: [Substring: Int] = [:]
            for pair in value.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, let number = Int(parts[1]) {
                    fields[parts[0]] = number
                }
            }
            if let keys = fields["keys"] {
                counts[index] = DatabaseKeyCount(keys: keys, expires: fields["expires"] ?? 0)
            }
        }
        return counts
    }
}

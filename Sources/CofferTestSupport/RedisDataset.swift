import CofferRedis
import Foundation
import NIOCore

/// Test data of every Redis type, and a way to compare two servers key by key.
package enum RedisDataset {
    /// Writes `scale` keys of each kind into databases 0 and 3: strings (small ints, long compressible
    /// and random-ish values), lists, sets (intset and plain), sorted sets (small and large), hashes (small
    /// and large), streams with a consumer group and pending entries, and keys with TTLs. Per database,
    /// streams covering every part of the stream record as well: a group that never read (entries-read
    /// unknown, written as 2^64-1), consumers with and without pending entries, claimed entries,
    /// tombstones (XDEL, XTRIM), an empty stream, and IDs and counters above 2^63 (XSETID).
    /// - Returns: the number of keys written.
    @discardableResult
    package static func populate(_ connection: RedisConnection, scale: Int = 200) async throws -> Int {
        var commands: [[String]] = []
        var keys = 0
        for database in [0, 3] {
            commands.append(["SELECT", "\(database)"])
            for i in 0..<scale {
                let p = "db\(database):\(i)"
                commands.append(["SET", "\(p):int", "\(i * 7)"])
                commands.append(["SET", "\(p):text", String(repeating: "coffer-\(i)-", count: 1 + i % 40)])
                commands.append(["RPUSH", "\(p):list"] + (0..<(1 + i % 7)).map { "item-\($0)-\(i)" })
                commands.append(["SADD", "\(p):intset"] + (0..<(1 + i % 5)).map { "\($0 * 3)" })
                commands.append(["SADD", "\(p):set"] + (0..<(1 + i % 5)).map { "member-\($0)" })
                commands.append(["ZADD", "\(p):zset"] + (0..<(1 + i % 6)).flatMap { ["\(Double($0) * 1.5)", "z\($0)"] })
                commands.append(["HSET", "\(p):hash"] + (0..<(1 + i % 6)).flatMap { ["field\($0)", "value-\($0)-\(i)"] })
                commands.append(["SET", "\(p):ttl", "expiring", "PX", "\(3_600_000 + i * 1000)"])
                keys += 8
            }
            // Encodings past the listpack limits (hashtable, skiplist, quicklist of several nodes).
            commands.append(["HSET", "db\(database):bighash"] + (0..<600).flatMap { ["f\($0)", String(repeating: "v", count: $0 % 90)] })
            commands.append(["ZADD", "db\(database):bigzset"] + (0..<600).flatMap { ["\($0)", "m\($0)"] })
            commands.append(["RPUSH", "db\(database):biglist"] + (0..<3000).map { "element-\($0)" })
            commands.append(["SADD", "db\(database):bigset"] + (0..<600).map { "s\($0)" })
            commands.append(["SET", "db\(database):binary", String(decoding: (0..<256).map { UInt8($0) }, as: UTF8.self)])
            for s in 0..<3 {
                for e in 0..<50 { commands.append(["XADD", "db\(database):stream\(s)", "*", "n", "\(e)", "s", "\(s)"]) }
                commands.append(["XGROUP", "CREATE", "db\(database):stream\(s)", "group", "0"])
                commands.append(["XREADGROUP", "GROUP", "group", "consumer-\(s)", "COUNT", "5", "STREAMS", "db\(database):stream\(s)", ">"])
            }
            commands.append(["HSET", "db\(database):ttlhash", "a", "1"])
            commands.append(["EXPIRE", "db\(database):ttlhash", "86400"])
            commands += Self.streamStructures(prefix: "db\(database)")
            keys += 5 + 3 + 1 + 4
        }
        commands.append(["SELECT", "0"])
        for batch in stride(from: 0, to: commands.count, by: 500) {
            let replies = try await connection.pipeline(Array(commands[batch..<min(batch + 500, commands.count)]))
            if let error = replies.first(where: { $0.errorMessage != nil }) { throw RedisError.server(error.errorMessage ?? "") }
        }
        return keys
    }

    /// Four streams: one whose group never read, one with tombstones and groups whose consumers own,
    /// claimed or lack pending entries, one empty, one with IDs and counters above 2^63.
    private static func streamStructures(prefix p: String) -> [[String]] {
        var commands: [[String]] = [["XADD", "\(p):stream-unread", "*", "a", "1"], ["XGROUP", "CREATE", "\(p):stream-unread", "grp", "0"]]
        let key = "\(p):stream-tombstones"
        for i in 1...120 { commands.append(["XADD", key, "7-\(i)", "n", "\(i)", "body", String(repeating: "b", count: i % 30)]) }
        commands += [
            ["XGROUP", "CREATE", key, "readers", "0"],
            ["XREADGROUP", "GROUP", "readers", "alice", "COUNT", "30", "STREAMS", key, ">"],
            ["XREADGROUP", "GROUP", "readers", "bob", "COUNT", "10", "STREAMS", key, ">"],
            ["XACK", key, "readers", "7-1", "7-35"],
            ["XCLAIM", key, "readers", "carol", "0", "7-3", "7-4", "7-36"],
            ["XGROUP", "CREATECONSUMER", key, "readers", "dave"],
            ["XGROUP", "CREATE", key, "latecomers", "$"],
            ["XDEL", key, "7-2", "7-50", "7-51", "7-110"],
            ["XTRIM", key, "MAXLEN", "100"],
            ["XGROUP", "CREATE", "\(p):stream-empty", "g", "$", "MKSTREAM"],
            ["XADD", "\(p):stream-huge", "5-1", "a", "1"],
            [
                "XSETID", "\(p):stream-huge", "18446744073709551615-18446744073709551614", "ENTRIESADDED", "9223372036854775807",
                "MAXDELETEDID", "18446744073709551615-1",
            ],
            ["XGROUP", "CREATE", "\(p):stream-huge", "g", "0"],
            ["XGROUP", "SETID", "\(p):stream-huge", "g", "18446744073709551615-18446744073709551614", "ENTRIESREAD", "9223372036854775806"],
        ]
        return commands
    }

    /// One key as restored data must match it: its type, its value in a canonical form (members sorted
    /// where the type is unordered, since hash-table iteration order changes on reload) and its TTL.
    /// A stream's value is `XINFO STREAM … FULL`: entries, IDs, counters, groups, every pending entry
    /// with its owner, delivery time and count, and every consumer with its seen time.
    package struct KeyState: Equatable, Sendable {
        package var type: String
        package var value: [String]
        /// Remaining TTL in ms, or -1 when none.
        package var pttl: Int64
    }

    private static func flatten(_ value: RESPValue) -> [String] {
        switch value {
        case .array(let items?): items.flatMap(Self.flatten)
        case .integer(let n): [String(n)]
        case .bulkString(let bytes?): [String(buffer: bytes)]
        case .simpleString(let text): [text]
        default: ["<nil>"]
        }
    }

    /// Every key of `databases` (0–15; a cluster node has 0 only), by database and name.
    package static func snapshot(_ connection: RedisConnection, databases: Range<Int> = 0..<16) async throws -> [Int: [String: KeyState]] {
        var result: [Int: [String: KeyState]] = [:]
        for database in databases {
            _ = try await connection.commandExpectingSuccess(["SELECT", "\(database)"])
            var cursor = "0"
            var names: [String] = []
            repeat {
                let reply = try await connection.commandExpectingSuccess(["SCAN", cursor, "COUNT", "1000"])
                guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let batch = parts[1].array else {
                    throw RedisError.protocolViolation("unexpected SCAN reply")
                }
                cursor = next
                names += batch.compactMap(\.string)
            } while cursor != "0"
            guard !names.isEmpty else { continue }
            var keys: [String: KeyState] = [:]
            for name in names {
                let type = try await connection.commandExpectingSuccess(["TYPE", name]).string ?? "none"
                let pttl = try await connection.commandExpectingSuccess(["PTTL", name]).integer ?? -2
                let reply: RESPValue
                var sorted = false
                switch type {
                case "string": reply = try await connection.commandExpectingSuccess(["GET", name])
                case "list": reply = try await connection.commandExpectingSuccess(["LRANGE", name, "0", "-1"])
                case "set":
                    reply = try await connection.commandExpectingSuccess(["SMEMBERS", name])
                    sorted = true
                case "zset": reply = try await connection.commandExpectingSuccess(["ZRANGE", name, "0", "-1", "WITHSCORES"])
                case "hash":
                    reply = try await connection.commandExpectingSuccess(["HGETALL", name])
                    sorted = true
                case "stream":
                    reply = try await connection.commandExpectingSuccess(["XINFO", "STREAM", name, "FULL", "COUNT", "0"])
                default: reply = .simpleString(type)
                }
                var value = Self.flatten(reply)
                if sorted {
                    value = type == "hash" ? stride(from: 0, to: value.count, by: 2).map { value[$0] + "=" + value[$0 + 1] }.sorted() : value.sorted()
                }
                keys[name] = KeyState(type: type, value: value, pttl: pttl)
            }
            result[database] = keys
        }
        _ = try await connection.commandExpectingSuccess(["SELECT", "0"])
        return result
    }
}

import Testing

/// A dataset that makes a real `redis-server` write one family of RDB records, with the server
/// configuration that forces the encodings it is about.
///
/// `encodings` names keys of database 0 with the `OBJECT ENCODING` answers that prove the intended
/// encoding was really produced (a set, since newer servers pick newer encodings for the same data),
/// so that a scenario cannot silently stop covering what it claims to.
struct RDBScenario: Sendable, CustomTestStringConvertible {
    var name: String
    var arguments: [String] = []
    var commands: [[String]]
    var encodings: [String: Set<String>] = [:]
    /// `rdbchecksum no` writes a zero checksum, which is accepted but cannot be verified.
    var checksummed = true

    var testDescription: String { self.name }

    static let all: [RDBScenario] = [.streams, .compact, .large, .plainListNodes, .uncompressedWithIdle, .frequencyWithoutChecksum]

    /// Printable bytes that LZF cannot shrink (a linear congruential sequence), so the string is stored raw.
    static func incompressible(_ count: Int, seed: UInt64) -> String {
        var state = seed
        return String(
            (0..<count).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Character(UnicodeScalar(UInt8(33 + (state >> 33) % 94)))
            })
    }

    /// Stream records: groups with and without consumers and pending entries, consumers with empty
    /// PELs, claimed entries, tombstones (XDEL, XTRIM), an empty stream, and IDs and counters above
    /// 2^63 (XSETID). Small nodes give streams of several listpacks.
    static let streams: RDBScenario = {
        var commands: [[String]] = []
        // The reproduction: a group that never read has entries-read "unknown", written as 2^64-1.
        commands.append(["XADD", "stream:unread-group", "*", "a", "1"])
        commands.append(["XGROUP", "CREATE", "stream:unread-group", "grp", "0"])
        for i in 1...20 { commands.append(["XADD", "stream:pending", "1-\(i)", "field", "value-\(i)", "payload", String(repeating: "p", count: 40)]) }
        commands.append(["XGROUP", "CREATE", "stream:pending", "readers", "0"])
        commands.append(["XREADGROUP", "GROUP", "readers", "alice", "COUNT", "5", "STREAMS", "stream:pending", ">"])
        commands.append(["XREADGROUP", "GROUP", "readers", "bob", "COUNT", "3", "STREAMS", "stream:pending", ">"])
        commands.append(["XACK", "stream:pending", "readers", "1-2"])
        commands.append(["XCLAIM", "stream:pending", "readers", "carol", "0", "1-3", "1-6"])
        commands.append(["XGROUP", "CREATECONSUMER", "stream:pending", "readers", "dave"])
        commands.append(["XGROUP", "CREATE", "stream:pending", "latecomers", "$"])
        commands.append(["XGROUP", "CREATE", "stream:pending", "counted", "1-3", "ENTRIESREAD", "3"])
        for i in 1...6 { commands.append(["XADD", "stream:acked", "2-\(i)", "n", "\(i)"]) }
        commands.append(["XGROUP", "CREATE", "stream:acked", "g", "0"])
        commands.append(["XREADGROUP", "GROUP", "g", "worker", "STREAMS", "stream:acked", ">"])
        commands.append(["XACK", "stream:acked", "g"] + (1...6).map { "2-\($0)" })
        for i in 1...30 { commands.append(["XADD", "stream:tombstones", "3-\(i)", "n", "\(i)"]) }
        commands.append(["XGROUP", "CREATE", "stream:tombstones", "g", "0"])
        commands.append(["XREADGROUP", "GROUP", "g", "c", "COUNT", "8", "STREAMS", "stream:tombstones", ">"])
        commands.append(["XDEL", "stream:tombstones", "3-5", "3-12", "3-13"])
        commands.append(["XTRIM", "stream:tombstones", "MAXLEN", "15"])
        commands.append(["XGROUP", "CREATE", "stream:empty", "g", "$", "MKSTREAM"])
        commands.append(["XADD", "stream:emptied", "4-1", "a", "1"])
        commands.append(["XDEL", "stream:emptied", "4-1"])
        commands.append(["XADD", "stream:huge-ids", "5-1", "a", "1"])
        commands.append([
            "XSETID", "stream:huge-ids", "18446744073709551615-18446744073709551614", "ENTRIESADDED", "9223372036854775807",
            "MAXDELETEDID", "18446744073709551615-1",
        ])
        commands.append(["XGROUP", "CREATE", "stream:huge-ids", "g", "0"])
        commands.append(["XGROUP", "SETID", "stream:huge-ids", "g", "18446744073709551615-18446744073709551614", "ENTRIESREAD", "9223372036854775806"])
        commands.append(["SELECT", "2"])
        commands.append(["XADD", "stream:db2", "*", "a", "1"])
        commands.append(["XGROUP", "CREATE", "stream:db2", "grp", "0"])
        commands.append(["SELECT", "0"])
        return RDBScenario(
            name: "streams with consumer groups, PELs and tombstones", arguments: ["--stream-node-max-entries", "4"], commands: commands,
            encodings: ["stream:unread-group": ["stream"], "stream:pending": ["stream"], "stream:empty": ["stream"]])
    }()

    /// The small encodings of the default configuration: integer strings (8, 16, 32 bits and wider),
    /// listpack hashes and sorted sets, intsets, one-node lists; TTLs; a function library; several databases.
    static let compact: RDBScenario = {
        var commands: [[String]] = [
            ["SET", "str:int8", "-100"], ["SET", "str:int16", "30000"], ["SET", "str:int32", "-2000000000"],
            ["SET", "str:int64", "9007199254740993"], ["SET", "str:short", "hello"], ["SET", "str:empty", ""],
            ["RPUSH", "list:small", "a", "1", "bb", "-7", "300000"],
            ["SADD", "set:ints", "1", "2", "300", "-70000", "5000000000"],
            ["SADD", "set:strings", "x", "y", "z"],
            ["ZADD", "zset:small", "1.5", "a", "-2", "b", "3e100", "c", "inf", "d"],
            ["HSET", "hash:small", "f1", "v1", "f2", "12", "f3", ""],
            ["SET", "ttl:ms", "v", "PX", "86400000"],
            ["HSET", "ttl:seconds", "a", "1"], ["EXPIREAT", "ttl:seconds", "4102444800"],
            ["FUNCTION", "LOAD", "#!lua name=cofferlib\nredis.register_function('coffer_answer', function() return 42 end)"],
        ]
        for database in [1, 5, 15] {
            commands.append(["SELECT", "\(database)"])
            commands.append(["SET", "db\(database):key", "\(database)"])
            commands.append(["RPUSH", "db\(database):list", "x"])
        }
        commands.append(["SELECT", "0"])
        return RDBScenario(
            name: "compact encodings, TTLs, a function library, four databases", commands: commands,
            encodings: [
                "str:int8": ["int"], "str:int16": ["int"], "str:int32": ["int"], "str:int64": ["int"], "str:short": ["embstr"],
                "list:small": ["quicklist", "listpack"], "set:ints": ["intset"], "set:strings": ["hashtable", "listpack"],
                "zset:small": ["listpack"], "hash:small": ["listpack"],
            ])
    }()

    /// The large encodings forced by configuration: hash tables, skiplists with binary doubles, sets
    /// of integers in a hash table, quicklists of many compressed nodes, and LZF strings over 10 KB.
    static let large: RDBScenario = RDBScenario(
        name: "hash tables, skiplists, compressed quicklists, LZF strings",
        arguments: [
            "--hash-max-listpack-entries", "0", "--zset-max-listpack-entries", "0", "--set-max-intset-entries", "0",
            "--list-max-listpack-size", "4", "--list-compress-depth", "1",
        ],
        commands: [
            ["SET", "str:lzf", String(repeating: "coffer compressible text ", count: 600)],
            ["SET", "str:random", RDBScenario.incompressible(12_000, seed: 7)],
            ["HSET", "hash:table", "f1", "v1", "f2", String(repeating: "w", count: 100), "f3", "3"],
            ["ZADD", "zset:skiplist", "1.5", "a", "-2.25", "b", "inf", "c", "-inf", "d", "0", "e", "1e-300", "f"],
            ["SADD", "set:int-table", "1", "2", "3"],
            ["SADD", "set:table", "alpha", "beta"],
            ["RPUSH", "list:nodes"] + (0..<40).map { "element-\($0)-" + String(repeating: "e", count: $0) },
        ],
        encodings: [
            "str:lzf": ["raw"], "str:random": ["raw"], "hash:table": ["hashtable"], "zset:skiplist": ["skiplist"],
            "set:int-table": ["hashtable"], "set:table": ["hashtable"], "list:nodes": ["quicklist"],
        ])

    /// Plain quicklist nodes (an element over the packed threshold, lowered through DEBUG).
    static let plainListNodes = RDBScenario(
        name: "quicklist with plain nodes",
        arguments: ["--enable-debug-command", "yes"],
        commands: [
            ["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100"],
            ["RPUSH", "list:plain", "small", String(repeating: "P", count: 500), "small-again", RDBScenario.incompressible(300, seed: 3)],
        ],
        encodings: ["list:plain": ["quicklist"]])

    /// `rdbcompression no` (long strings and listpacks stored raw) and an LRU policy (IDLE before each key).
    static let uncompressedWithIdle = RDBScenario(
        name: "no compression, LRU idle times",
        arguments: ["--rdbcompression", "no", "--maxmemory-policy", "allkeys-lru"],
        commands: [
            ["SET", "str:long", String(repeating: "not compressed ", count: 1000)],
            ["HSET", "hash:small", "field", String(repeating: "v", count: 300)],
            ["XADD", "stream:raw", "1-1", "a", String(repeating: "s", count: 200)],
            ["XGROUP", "CREATE", "stream:raw", "g", "0"],
        ])

    /// An LFU policy (FREQ before each key), and no checksum.
    static let frequencyWithoutChecksum = RDBScenario(
        name: "LFU frequencies, checksum disabled",
        arguments: ["--maxmemory-policy", "allkeys-lfu", "--rdbchecksum", "no"],
        commands: [["SET", "a", "1"], ["GET", "a"], ["RPUSH", "l", "x"], ["SET", "b", "x", "EX", "100000"]],
        checksummed: false)
}

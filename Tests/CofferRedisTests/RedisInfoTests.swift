import CofferRedis
import Testing

@Suite("RedisInfo parsing")
struct RedisInfoTests {
    private let sample = """
        # Server\r
        redis_version:7.0.15\r
        redis_mode:standalone\r
        \r
        # Memory\r
        used_memory:1048576\r
        maxmemory:0\r
        total_system_memory:25769803776\r
        \r
        # Replication\r
        role:master\r
        \r
        # Keyspace\r
        db0:keys=10,expires=2,avg_ttl=0\r
        db3:keys=1,expires=0,avg_ttl=0,subexpiry=0\r

        """

    @Test("reads sections and typed fields")
    func readsTypedFields() {
        let info = RedisInfo(parsing: self.sample)
        #expect(info.redisVersion == "7.0.15")
        #expect(info.usedMemory == 1_048_576)
        #expect(info.maxMemory == 0)
        #expect(info.totalSystemMemory == 25_769_803_776)
        #expect(info.role == "master")
        #expect(info.dbKeyCounts == [0: .init(keys: 10, expires: 2), 3: .init(keys: 1, expires: 0)])
        #expect(info.value("redis_mode") == "standalone")
        #expect(info.value("redis_mode", in: "Server") == "standalone")
        #expect(info.value("redis_mode", in: "memory") == nil)
    }

    @Test("an empty keyspace section means no keys; a missing one means unknown")
    func keyspacePresence() {
        #expect(RedisInfo(parsing: "# Keyspace\r\n").dbKeyCounts == [:])
        #expect(RedisInfo(parsing: "# Server\r\nredis_version:7.2.4\r\n").dbKeyCounts == nil)
    }

    @Test("values may contain colons")
    func valuesWithColons() {
        let info = RedisInfo(parsing: "# Server\nexecutable:/usr/bin/redis-server\nconfig_file:C:\\x\n")
        #expect(info.value("executable") == "/usr/bin/redis-server")
        #expect(info.value("config_file") == "C:\\x")
    }
}

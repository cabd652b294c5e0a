import Foundation
import Testing

@testable import CofferMySQL

/// The pieces of `RestoreLoader` that need no server: the UTC stop time handed to `mariadb-binlog` and the reading
/// of its event headers (GTID and time of each replayed transaction).
@Suite("Binlog replay helpers")
struct ReplayScannerTests {
    @Test("The stop time is the whole UTC second, whatever the process time zone")
    func stopTime() {
        // 2025-05-20T09:40:40.999Z
        let date = Date(timeIntervalSince1970: 1_747_734_040.999)
        #expect(RestoreLoader.utcDateTime(date) == "2025-05-20 09:40:40")
        #expect(RestoreLoader.utcDateTime(Date(timeIntervalSince1970: 0)) == "1970-01-01 00:00:00")
    }

    @Test("GTID headers are counted and remembered per domain, across chunk boundaries; other lines are ignored")
    func scanner() {
        let text = """
            /*!100001 SET @@session.gtid_domain_id=0*//*!*/;
            #261130  0:00:05 server id 1  end_log_pos 520 CRC32 0x6b1e0a3a 	GTID 0-1-3 trans
            BINLOG '
            kQ4saBMBAAAAMgAAAMEBAAAAACMAAAAAAAEABHNob3AAAXQAAgMPAlAABh7Hq3g= GTID 9-9-9
            '/*!*/;
            #Q> INSERT INTO t VALUES ('GTID 5-5-5') server id 7
            #261130 13:02:07 server id 1  end_log_pos 900 CRC32 0x6b1e0a3b 	GTID 0-1-4 trans
            #261130 13:02:08 server id 2  end_log_pos 990 CRC32 0x6b1e0a3c 	GTID 2-2-17 cid=12 trans

            """
        let bytes = Array(text.utf8)
        var scanner = ReplayScanner()
        // Feed in small, uneven chunks so header lines are split.
        var index = 0
        var size = 1
        while index < bytes.count {
            let end = min(bytes.count, index + size)
            bytes[index..<end].withUnsafeBytes { scanner.consume($0) }
            index = end
            size = size % 13 + 3
        }
        #expect(scanner.outcome.transactions == 3)
        #expect(scanner.outcome.lastGTIDs == [0: "0-1-4", 2: "2-2-17"])
        #expect(scanner.outcome.lastEventAt == Date(timeIntervalSince1970: 1_796_043_728))  // 2026-11-30T13:02:08Z
    }
}

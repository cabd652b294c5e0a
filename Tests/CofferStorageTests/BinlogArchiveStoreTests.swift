import CofferCore
import CofferStorage
import CofferTestSupport
import Foundation
import Testing

/// `SQLBinlogArchiveStore` on every database engine: the lease decides who archives, segments continue the cursor
/// exactly and are never recorded twice, gaps move the cursor and stay listed.
@Suite("SQL binlog archive store", .serialized, .timeLimit(.minutes(1)))
struct BinlogArchiveStoreTests {
    static let now = WireTime.date(epochMilliseconds: 1_747_000_000_000)

    static func segment(_ node: String, _ sequence: Int64, _ file: String, _ start: UInt64, _ end: UInt64, closes: Bool = false) -> BinlogSegment {
        BinlogSegment(
            nodeID: node, sequence: sequence, file: file, startPosition: start, endPosition: end, blobKey: "binlog/\(node)/\(file)/\(start)",
            size: Int64(end - start), sha256: "ab", firstEventAt: now, lastEventAt: now.addingTimeInterval(5), lastGTID: "0-1-\(sequence)",
            closesFile: closes, createdAt: now)
    }

    @Test("One owner at a time; an expired lease is taken over; a released one at once", arguments: TestDatabase.available)
    func lease(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let node = Identifiers.ddm(suffix: "in01")
            var clock = LeaseTestClock(database)
            func take(_ owner: String, for seconds: TimeInterval) async throws -> Bool {
                let at = clock.now
                return try await store.binlogs.acquireLease(nodeID: node, projectID: "p", owner: owner, until: at + seconds, now: at)
            }
            #expect(try await take("a", for: clock.shortLease))
            #expect(try await take("b", for: 30) == false)
            #expect(try await take("a", for: clock.shortLease))
            try await clock.passShortLease()
            #expect(try await take("b", for: 30))
            // "a" lost it: its writes are refused.
            #expect(try await store.binlogs.setState(nodeID: node, owner: "a", state: .failing, detail: "x", now: Self.now + 42) == false)
            #expect(try await store.binlogs.appendSegment(Self.segment(node, 1, "binlog.000001", 0, 100), cursor: .init(file: "binlog.000001", position: 100), owner: "a", now: Self.now) == false)
            #expect(try await store.binlogs.segments(nodeID: node).isEmpty)
            #expect(try await take("c", for: 30) == false)
            try await store.binlogs.releaseLease(nodeID: node, owner: "b")
            #expect(try await take("c", for: 30))
        }
    }

    @Test("A node clock far ahead does not take a live lease on PostgreSQL", .enabled(if: TestDatabase.available.contains(.postgres)))
    func skewedClock() async throws {
        try await StoreFixtures.withStore(.postgres) { (store: CofferStore) async throws -> Void in
            let node = Identifiers.ddm(suffix: "in01")
            let now = Date()
            #expect(try await store.binlogs.acquireLease(nodeID: node, projectID: "p", owner: "a", until: now + 30, now: now))
            let ahead = now + 120
            #expect(try await store.binlogs.acquireLease(nodeID: node, projectID: "p", owner: "b", until: ahead + 30, now: ahead) == false)
        }
    }

    @Test("Segments continue the cursor exactly; gaps are recorded and move it", arguments: TestDatabase.available)
    func segmentsAndGaps(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let node = Identifiers.ddm(suffix: "in01")
            let archive = store.binlogs
            #expect(try await archive.acquireLease(nodeID: node, projectID: "p", owner: "a", until: Self.now + 30, now: Self.now))
            #expect(try await archive.status(nodeID: node)?.cursor == nil)
            #expect(try await archive.appendSegment(Self.segment(node, 1, "binlog.000001", 0, 400), cursor: .init(file: "binlog.000001", position: 400), owner: "a", now: Self.now))
            // Not at the cursor: a hole (starts at 500) or a repeat (starts at 4 again) is refused.
            #expect(try await archive.appendSegment(Self.segment(node, 2, "binlog.000001", 500, 600), cursor: .init(file: "binlog.000001", position: 600), owner: "a", now: Self.now) == false)
            #expect(try await archive.appendSegment(Self.segment(node, 2, "binlog.000001", 0, 600), cursor: .init(file: "binlog.000001", position: 600), owner: "a", now: Self.now) == false)
            #expect(try await archive.appendSegment(Self.segment(node, 2, "binlog.000001", 400, 700, closes: true), cursor: .start(of: "binlog.000002"), owner: "a", now: Self.now))
            // The same segment twice is refused by the cursor check (and the primary key behind it).
            #expect(try await archive.appendSegment(Self.segment(node, 3, "binlog.000001", 400, 700, closes: true), cursor: .start(of: "binlog.000002"), owner: "a", now: Self.now) == false)
            let gap = BinlogGap(
                nodeID: node, from: .start(of: "binlog.000002"), fromEventAt: Self.now + 5, to: .start(of: "binlog.000005"),
                reason: "binlog.000002 was purged", detectedAt: Self.now + 60)
            #expect(try await archive.recordGap(gap, owner: "a", now: Self.now + 60))
            #expect(try await archive.gaps(nodeID: node) == [gap])
            let status = try #require(try await archive.status(nodeID: node))
            #expect(status.cursor == .start(of: "binlog.000005"))
            #expect(status.state == .archiving)
            let segments = try await archive.segments(nodeID: node)
            #expect(segments == [Self.segment(node, 1, "binlog.000001", 0, 400), Self.segment(node, 2, "binlog.000001", 400, 700, closes: true)])
            #expect(try await archive.setState(nodeID: node, owner: "a", state: .noBinlog, detail: "log_bin is OFF", now: Self.now + 61))
            #expect(try await archive.status(nodeID: node)?.state == .noBinlog)
            try await archive.deleteSegments(nodeID: node, blobKeys: [segments[0].blobKey])
            #expect(try await archive.segments(nodeID: node).map(\.sequence) == [2])
        }
    }
}

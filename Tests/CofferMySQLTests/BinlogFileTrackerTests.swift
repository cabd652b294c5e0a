import CofferMySQL
import NIOCore
import Testing

/// `BinlogFileTracker` on hand-made events: it appends only what continues the file exactly, skips what the dump
/// thread makes up, and ends a file at its rotate event or when the dump moves on without one.
@Suite("Binlog file tracker", .timeLimit(.minutes(1)))
struct BinlogFileTrackerTests {
    /// An event of `size` bytes (header + zero body + room for a rotate's position and name).
    static func event(type: UInt8, end: UInt32, size: Int = 40, flags: UInt16 = 0, rotateTo name: String? = nil) throws -> BinlogEvent {
        var buffer = ByteBuffer()
        var body = ByteBuffer()
        if let name {
            body.writeInteger(UInt64(4), endianness: .little)
            body.writeString(name)
        } else {
            body.writeRepeatingByte(0, count: size - 19)
        }
        buffer.writeInteger(UInt32(1_700_000_000), endianness: .little)
        buffer.writeInteger(type)
        buffer.writeInteger(UInt32(1), endianness: .little)
        buffer.writeInteger(UInt32(19 + body.readableBytes), endianness: .little)
        buffer.writeInteger(end, endianness: .little)
        buffer.writeInteger(flags, endianness: .little)
        buffer.writeBuffer(&body)
        return try BinlogEvent(buffer)
    }

    static func appended(_ steps: [BinlogFileTracker.Step]) -> [UInt32] {
        steps.compactMap { if case .append(let event) = $0 { event.endPosition } else { nil } }
    }

    @Test("A dump from the start: fake rotate skipped, events appended, rotate ends the file")
    func fromStart() throws {
        var tracker = BinlogFileTracker(file: "binlog.000001", position: 4, isChecksummed: false)
        #expect(try tracker.accept(Self.event(type: BinlogEvent.Kind.rotate, end: 0, flags: 0x20, rotateTo: "binlog.000001")).isEmpty)
        #expect(Self.appended(try tracker.accept(Self.event(type: BinlogEvent.Kind.formatDescription, end: 44))) == [44])
        #expect(try tracker.accept(Self.event(type: BinlogEvent.Kind.heartbeat, end: 44, size: 30)).isEmpty)
        #expect(Self.appended(try tracker.accept(Self.event(type: 2, end: 84))) == [84])
        let rotate = try Self.event(type: BinlogEvent.Kind.rotate, end: 84 + 19 + 8 + 13, rotateTo: "binlog.000002")
        let steps = try tracker.accept(rotate)
        #expect(Self.appended(steps) == [rotate.endPosition])
        guard case .fileEnded(let next) = steps.last else {
            Issue.record("the rotate did not end the file")
            return
        }
        #expect(next == "binlog.000002")
        #expect(tracker.file == "binlog.000002" && tracker.position == 4)
    }

    @Test("Resuming mid-file: the resent format description is skipped; a hole or a repeat is refused")
    func resumeAndRefuse() throws {
        var tracker = BinlogFileTracker(file: "binlog.000003", position: 1000, isChecksummed: false)
        #expect(try tracker.accept(Self.event(type: BinlogEvent.Kind.formatDescription, end: 44)).isEmpty)
        #expect(Self.appended(try tracker.accept(Self.event(type: 2, end: 1040))) == [1040])
        #expect(throws: MySQLError.self) { try tracker.accept(Self.event(type: 2, end: 1040)) }  // repeated
        #expect(throws: MySQLError.self) { try tracker.accept(Self.event(type: 2, end: 1200)) }  // bytes skipped
        #expect(tracker.position == 1040)
    }

    @Test("The dump moving on without a rotate event (server restarted) ends the file where it stands")
    func moveWithoutRotate() throws {
        var tracker = BinlogFileTracker(file: "binlog.000004", position: 500, isChecksummed: false)
        let steps = try tracker.accept(Self.event(type: BinlogEvent.Kind.rotate, end: 0, flags: 0x20, rotateTo: "binlog.000005"))
        guard case .fileEnded(let next) = steps.first, steps.count == 1 else {
            Issue.record("expected the file to end, got \(steps.count) steps")
            return
        }
        #expect(next == "binlog.000005")
        #expect(tracker.file == "binlog.000005" && tracker.position == 4)
    }
}

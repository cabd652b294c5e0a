import CofferCore
import CofferOperations
import Foundation
import Testing

/// The rules of `RestorableWindows` (reference 3.5d): a window runs from a backup's cut to the earliest newest
/// archived event over the backup's nodes, never across a gap; a node without an archive leaves the cut alone.
@Suite("DDM restorable windows (pure)", .timeLimit(.minutes(1)))
struct RestorableWindowsTests {
    static let base = Date(timeIntervalSince1970: 1_747_728_000)

    static func t(_ seconds: Double) -> Date { Self.base.addingTimeInterval(seconds) }

    static func segment(
        _ node: String, _ sequence: Int64, _ file: String, _ start: UInt64, _ end: UInt64, first: Double?, last: Double?, closes: Bool = false
    ) -> BinlogSegment {
        BinlogSegment(
            nodeID: node, sequence: sequence, file: file, startPosition: start, endPosition: end, blobKey: "k/\(node)/\(sequence)", size: 1,
            sha256: "", firstEventAt: first.map(Self.t), lastEventAt: last.map(Self.t), lastGTID: nil, closesFile: closes, createdAt: Self.base)
    }

    static func cut(_ at: Double, _ nodes: [String: (String, UInt64)]) -> RestorableWindows.Cut {
        RestorableWindows.Cut(at: Self.t(at), nodes: nodes.mapValues { BinlogCursor(file: $0.0, position: $0.1) })
    }

    static func window(_ start: Double, _ end: Double) -> DateInterval { DateInterval(start: Self.t(start), end: Self.t(end)) }

    @Test("No backup: no window, whatever the archive holds")
    func noBackups() {
        let archive = RestorableWindows.NodeArchive(segments: [Self.segment("a", 1, "bin.000001", 0, 500, first: 0, last: 100)], gaps: [])
        #expect(RestorableWindows.compute(cuts: [], archives: ["a": archive]).isEmpty)
        // A backup that covers no data node restores nothing either.
        #expect(RestorableWindows.compute(cuts: [Self.cut(10, [:])], archives: ["a": archive]).isEmpty)
    }

    @Test("Two nodes: the window ends at the earlier node's newest archived event (the intersection)")
    func intersectionOverNodes() {
        let a = RestorableWindows.NodeArchive(
            segments: [
                Self.segment("a", 1, "bin.000001", 0, 400, first: 0, last: 50),
                Self.segment("a", 2, "bin.000001", 400, 900, first: 51, last: 300),
            ], gaps: [])
        let b = RestorableWindows.NodeArchive(segments: [Self.segment("b", 1, "log.000007", 0, 700, first: 0, last: 200)], gaps: [])
        let cuts = [Self.cut(20, ["a": ("bin.000001", 300), "b": ("log.000007", 120)])]
        #expect(RestorableWindows.compute(cuts: cuts, archives: ["a": a, "b": b]) == [Self.window(20, 200)])
        // Reversed roles: still the earlier one.
        let later = RestorableWindows.NodeArchive(segments: [Self.segment("b", 1, "log.000007", 0, 700, first: 0, last: 900)], gaps: [])
        #expect(RestorableWindows.compute(cuts: cuts, archives: ["a": a, "b": later]) == [Self.window(20, 300)])
    }

    @Test("Overlapping windows of two backups merge; a rotation (closed file, next file from 0) does not split")
    func overlapsMerge() {
        let a = RestorableWindows.NodeArchive(
            segments: [
                Self.segment("a", 1, "bin.000001", 0, 400, first: 0, last: 100, closes: true),
                Self.segment("a", 2, "bin.000002", 0, 800, first: 101, last: 500),
            ], gaps: [])
        let cuts = [Self.cut(10, ["a": ("bin.000001", 200)]), Self.cut(200, ["a": ("bin.000002", 300)])]
        #expect(RestorableWindows.compute(cuts: cuts, archives: ["a": a]) == [Self.window(10, 500)])
    }

    @Test("A recorded gap splits: a backup before it reaches only the gap, one after it starts the next window")
    func gapSplits() {
        let segments = [
            Self.segment("a", 1, "bin.000001", 0, 400, first: 0, last: 100),
            // bin.000001 from 400 and bin.000002 were purged before Coffer archived them.
            Self.segment("a", 2, "bin.000003", 0, 900, first: 300, last: 600),
        ]
        let gap = BinlogGap(
            nodeID: "a", from: BinlogCursor(file: "bin.000001", position: 400), fromEventAt: Self.t(100),
            to: .start(of: "bin.000003"), reason: "purged", detectedAt: Self.t(300))
        let cuts = [Self.cut(10, ["a": ("bin.000001", 120)]), Self.cut(350, ["a": ("bin.000003", 500)])]
        let withGap = RestorableWindows.compute(cuts: cuts, archives: ["a": .init(segments: segments, gaps: [gap])])
        #expect(withGap == [Self.window(10, 100), Self.window(350, 600)])
        // A rotation the gap list does not mention still splits when the bytes do not continue.
        let unrecorded = RestorableWindows.compute(cuts: cuts, archives: ["a": .init(segments: segments, gaps: [])])
        #expect(unrecorded == [Self.window(10, 100), Self.window(350, 600)])
        // A gap that ends mid-file (the archive resumed at a later position of the same file) splits too.
        let sameFile = [
            Self.segment("a", 1, "bin.000001", 0, 400, first: 0, last: 100),
            Self.segment("a", 2, "bin.000001", 400, 900, first: 300, last: 600),
        ]
        let midFileGap = BinlogGap(
            nodeID: "a", from: BinlogCursor(file: "bin.000001", position: 380), fromEventAt: Self.t(90),
            to: BinlogCursor(file: "bin.000001", position: 400), reason: "reset", detectedAt: Self.t(300))
        let cutsSameFile = [Self.cut(10, ["a": ("bin.000001", 120)])]
        #expect(RestorableWindows.compute(cuts: cutsSameFile, archives: ["a": .init(segments: sameFile, gaps: [midFileGap])]) == [Self.window(10, 100)])
        #expect(RestorableWindows.compute(cuts: cutsSameFile, archives: ["a": .init(segments: sameFile, gaps: [])]) == [Self.window(10, 600)])
    }

    @Test("A node without binlog makes each backup a zero-length window at its cut, even beside an archived node")
    func nodeWithoutBinlog() {
        let a = RestorableWindows.NodeArchive(segments: [Self.segment("a", 1, "bin.000001", 0, 900, first: 0, last: 500)], gaps: [])
        let cuts = [
            Self.cut(10, ["a": ("bin.000001", 100), "b": ("", 0)]),
            Self.cut(200, ["a": ("bin.000001", 600), "b": ("", 0)]),
        ]
        #expect(RestorableWindows.compute(cuts: cuts, archives: ["a": a]) == [Self.window(10, 10), Self.window(200, 200)])
        // Archived but empty (no segment yet) is the same.
        #expect(
            RestorableWindows.compute(cuts: cuts, archives: ["a": a, "b": .init(segments: [], gaps: [])]) == [
                Self.window(10, 10), Self.window(200, 200),
            ])
    }

    @Test("A cut the archive does not hold (archiving began later, or lags) is restorable only at the cut")
    func cutOutsideArchive() {
        let a = RestorableWindows.NodeArchive(segments: [Self.segment("a", 1, "bin.000004", 0, 900, first: 400, last: 500)], gaps: [])
        #expect(RestorableWindows.compute(cuts: [Self.cut(10, ["a": ("bin.000002", 100)])], archives: ["a": a]) == [Self.window(10, 10)])
        // Same file, past what is archived yet.
        #expect(RestorableWindows.compute(cuts: [Self.cut(10, ["a": ("bin.000004", 901)])], archives: ["a": a]) == [Self.window(10, 10)])
        // An archive whose newest event is older than the cut cannot move the window before the cut.
        #expect(RestorableWindows.compute(cuts: [Self.cut(800, ["a": ("bin.000004", 900)])], archives: ["a": a]) == [Self.window(800, 800)])
    }
}

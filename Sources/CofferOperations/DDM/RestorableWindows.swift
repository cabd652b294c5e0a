import CofferCore
import Foundation

/// The restorable windows of a DDM instance (reference 3.5d), computed from what is recorded: the consistent cuts
/// of its `normal` backups and each data node's archived binary log. Pure, so every rule is unit-tested without
/// servers.
///
/// A restore at `t` loads one backup (one consistent cut of every node it covers, taken at `c ≤ t`) and replays
/// each node's archive from the cut's exact coordinates up to `t`. So a backup makes `[c, reach]` restorable, where
/// `reach` is the earliest, over its nodes, of the newest archived event reachable from the cut without crossing a
/// gap: that is the intersection over the nodes, and a gap splits it. A node without an archive (binary logging
/// off, or the archive does not reach back to the cut) reaches only the cut itself: the backup then contributes the
/// zero-length window `[c, c]`, which is exactly restorable (no replay) and is the API's way of saying "no window
/// beyond its backups". The answer is the union over backups, merged and sorted.
package enum RestorableWindows {
    /// One backup's consistent cut: when, and each covered node's binary log coordinates at it.
    package struct Cut: Sendable, Equatable {
        package var at: Date
        package var nodes: [String: BinlogCursor]

        package init(at: Date, nodes: [String: BinlogCursor]) {
            self.at = at
            self.nodes = nodes
        }
    }

    /// What the archive holds for one node.
    package struct NodeArchive: Sendable, Equatable {
        package var segments: [BinlogSegment]
        package var gaps: [BinlogGap]

        package init(segments: [BinlogSegment], gaps: [BinlogGap]) {
            self.segments = segments
            self.gaps = gaps
        }
    }

    /// The windows, sorted and merged (overlapping or touching windows become one).
    package static func compute(cuts: [Cut], archives: [String: NodeArchive]) -> [DateInterval] {
        Self.merged(Self.cutWindows(cuts: cuts, archives: archives).compactMap { $0 })
    }

    /// Each cut's own window `[c, reach]`, in the order of `cuts`; nil for a cut that covers no node.
    package static func cutWindows(cuts: [Cut], archives: [String: NodeArchive]) -> [DateInterval?] {
        let runs = archives.mapValues(Self.runs)
        return cuts.map { cut in
            guard !cut.nodes.isEmpty else { return nil }
            var end: Date?
            for (nodeID, cursor) in cut.nodes {
                let reach = Self.reach(from: cursor, at: cut.at, runs: runs[nodeID] ?? [])
                end = min(end ?? reach, reach)
            }
            return DateInterval(start: cut.at, end: end ?? cut.at)
        }
    }

    /// The cut a restore at `time` starts from: the newest cut at or before `time` whose own window reaches
    /// `time`, or nil when `time` is outside every window. The newest such cut, because it leaves the least binary
    /// log to replay; an older cut can still serve a time a newer one cannot reach (a newer backup that covers a
    /// node without an archive), which is why the window decides and not the cut time alone.
    package static func restoringCut(at time: Date, cuts: [Cut], archives: [String: NodeArchive]) -> Int? {
        let windows = Self.cutWindows(cuts: cuts, archives: archives)
        var best: Int?
        for (index, window) in windows.enumerated() {
            guard let window, window.start <= time, time <= window.end else { continue }
            if let current = best, cuts[current].at >= cuts[index].at { continue }
            best = index
        }
        return best
    }

    /// A stretch of the archive that replays without interruption, and its newest event time.
    struct Run: Equatable {
        var segments: [BinlogSegment]
        var lastEventAt: Date?
    }

    /// Splits a node's segments (in publication order) into runs: a new run starts where a segment does not
    /// continue the previous one byte for byte (same file at its end, or the start of a file after the previous
    /// closed its own) or where a recorded gap ends.
    static func runs(_ archive: NodeArchive) -> [Run] {
        var runs: [Run] = []
        var previous: BinlogSegment?
        for segment in archive.segments.sorted(by: { $0.sequence < $1.sequence }) {
            let gapEndsHere = archive.gaps.contains { gap in
                gap.to.file == segment.file
                    && (gap.to.position == segment.startPosition || (gap.to.position == 4 && segment.startPosition == 0))
            }
            let continues = previous.map { previous in
                (segment.file == previous.file && segment.startPosition == previous.endPosition)
                    || (previous.closesFile && segment.file != previous.file && segment.startPosition == 0)
            }
            if continues == true, !gapEndsHere, var last = runs.popLast() {
                last.segments.append(segment)
                last.lastEventAt = Self.later(last.lastEventAt, segment.lastEventAt)
                runs.append(last)
            } else {
                runs.append(Run(segments: [segment], lastEventAt: segment.lastEventAt))
            }
            previous = segment
        }
        return runs
    }

    /// The newest instant a replay from `cursor` (the cut's coordinates, taken at `at`) can reach: the last event
    /// of the run that holds the cut, or the cut itself when no run does.
    static func reach(from cursor: BinlogCursor, at: Date, runs: [Run]) -> Date {
        let holding = runs.first { run in
            run.segments.contains { $0.file == cursor.file && $0.startPosition <= cursor.position && cursor.position <= $0.endPosition }
        }
        guard let last = holding?.lastEventAt else { return at }
        return max(at, last)
    }

    static func merged(_ windows: [DateInterval]) -> [DateInterval] {
        var result: [DateInterval] = []
        for window in windows.sorted(by: { ($0.start, $0.end) < ($1.start, $1.end) }) {
            if let last = result.last, window.start <= last.end {
                result[result.count - 1] = DateInterval(start: last.start, end: max(last.end, window.end))
            } else {
                result.append(window)
            }
        }
        return result
    }

    private static func later(_ a: Date?, _ b: Date?) -> Date? {
        guard let a else { return b }
        guard let b else { return a }
        return max(a, b)
    }
}

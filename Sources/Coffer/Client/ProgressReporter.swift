import Foundation

/// Shows how far a job or a download is: a bar redrawn in place on a terminal, plain lines otherwise (logs, CI,
/// pipes), so `--wait` is readable in both places.
///
/// Bytes are known for downloads and restores (the backup's size). The API reports a running backup's percent,
/// not its bytes, so a backup's bytes are estimated from the instance's previous successful backup (shown with
/// `~`; none for a first backup); the rate and the ETA come from whichever is known.
final class ProgressReporter {
    let label: String
    let isTerminal: Bool
    /// Standard output, or standard error when standard output carries `--json`.
    private let output: FileHandle
    private let start = Date()
    private var lastPlain: String?
    private var lastPlainAt = Date.distantPast
    private var drewBar = false
    /// The first sample with work done: the rate is measured from it, so a queue wait does not slow the ETA.
    private var firstSample: (at: Date, fraction: Double, bytes: Double?)?

    init(label: String, toStandardError: Bool = false) {
        self.label = label
        let descriptor = toStandardError ? STDERR_FILENO : STDOUT_FILENO
        self.isTerminal = isatty(descriptor) == 1
        self.output = toStandardError ? FileHandle.standardError : FileHandle.standardOutput
    }

    private func write(_ text: String) {
        // Whatever `print` buffered goes first, so lines keep their order.
        fflush(nil)
        self.output.write(Data(text.utf8))
    }

    /// - Parameters:
    ///   - fraction: 0…1 when known.
    ///   - bytes: bytes done, when known; `total` the bytes expected, when known.
    ///   - approximate: the bytes are an estimate (shown with `~`).
    func update(status: String, fraction: Double?, bytes: Int64? = nil, total: Int64? = nil, approximate: Bool = false) {
        let about = approximate ? "~" : ""
        let now = Date()
        var parts: [String] = [self.label, status]
        let fraction = fraction.map { min(1, max(0, $0)) } ?? total.flatMap { total in bytes.map { total > 0 ? Double($0) / Double(total) : 0 } }
        if let fraction, fraction > 0, self.firstSample == nil {
            self.firstSample = (now, fraction, bytes.map(Double.init))
        }
        if let fraction { parts.append(String(format: "%5.1f%%", fraction * 100)) }
        if let bytes {
            parts.append(about + (total.map { "\(ByteFormat.size(bytes))/\(ByteFormat.size($0))" } ?? ByteFormat.size(bytes)))
        } else if let total {
            parts.append(about + ByteFormat.size(total))
        }
        var eta: Double?
        if let first = self.firstSample, let fraction {
            let elapsed = now.timeIntervalSince(first.at)
            // No rate until the work moved past the first sample (progress is recorded about once a second).
            if elapsed > 0.2, fraction > first.fraction {
                let perSecond = (fraction - first.fraction) / elapsed
                if let bytes, let firstBytes = first.bytes {
                    parts.append(about + ByteFormat.size((Double(bytes) - firstBytes) / elapsed) + "/s")
                } else if let total {
                    parts.append(about + ByteFormat.size(perSecond * Double(total)) + "/s")
                } else {
                    parts.append(String(format: "%.1f%%/s", perSecond * 100))
                }
                if perSecond > 0 { eta = (1 - fraction) / perSecond }
            }
        }
        parts.append("ETA " + ByteFormat.duration(eta ?? .nan))
        parts.append("elapsed " + ByteFormat.duration(now.timeIntervalSince(self.start)))
        if self.isTerminal {
            let bar = fraction.map { Self.bar($0, width: 24) } ?? "[" + String(repeating: "·", count: 24) + "]"
            let line = ([parts[0], bar] + parts.dropFirst()).joined(separator: "  ")
            self.write("\r\u{1B}[K" + line)
            self.drewBar = true
        } else {
            // One line when something changed, at most every two seconds (or at once when the status changes).
            let key = status + (fraction.map { String(format: "%.1f", $0 * 100) } ?? "")
            let statusChanged = self.lastPlain.map { !$0.hasPrefix(status) } ?? true
            guard key != self.lastPlain, statusChanged || now.timeIntervalSince(self.lastPlainAt) >= 2 else { return }
            self.lastPlain = key
            self.lastPlainAt = now
            self.write(parts.joined(separator: "  ") + "\n")
        }
    }

    /// Ends the bar's line, then prints `message` on its own line.
    func finish(_ message: String) {
        if self.drewBar { self.write("\n") }
        self.drewBar = false
        self.write(message + " (" + ByteFormat.duration(Date().timeIntervalSince(self.start)) + ")\n")
    }

    static func bar(_ fraction: Double, width: Int) -> String {
        let filled = Int((fraction * Double(width)).rounded(.down))
        return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]"
    }
}

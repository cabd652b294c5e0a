import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A child process started by a test fixture, with bounded waits and explicit signals.
///
/// Wraps Foundation `Process` (which reaps the child, so ``isRunning`` turns false on exit) and adds
/// what fixtures need on top: `async` waiting with a time-out and SIGTERM-then-SIGKILL shutdown.
package final class ProcessRunner: Sendable {
    /// The executable that was started.
    package let executable: URL
    /// Its arguments.
    package let arguments: [String]
    /// `Process` is not `Sendable`; every access goes through this mutex.
    private let process: Mutex<Process>

    /// Starts `executable`.
    ///
    /// - Parameters:
    ///   - executable: Program to run.
    ///   - arguments: Its arguments.
    ///   - standardError: File that receives the child's standard error (created or truncated); `nil`
    ///     discards it. Standard input and output are discarded.
    /// - Throws: Errors from `Process.run()` or from creating the file.
    package init(executable: URL, arguments: [String], standardError: URL? = nil) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        if let standardError {
            _ = FileManager.default.createFile(atPath: standardError.path, contents: nil)
            process.standardError = try FileHandle(forWritingTo: standardError)
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try Self.withSignalsUnblocked {
            try process.run()
        }
        self.executable = executable
        self.arguments = arguments
        self.process = Mutex(process)
    }

    /// Runs `body` (which spawns a child) with no signal blocked on the current thread.
    ///
    /// A child inherits the spawning thread's signal mask, and the threads that run Swift tasks on Linux
    /// (libdispatch workers) block nearly every signal, SIGTERM included: without this, `redis-server`
    /// would ignore SIGTERM and only die from SIGKILL. `Process.run()` spawns synchronously on the calling
    /// thread, so unblocking around it is enough.
    private static func withSignalsUnblocked<Result>(_ body: () throws -> Result) rethrows -> Result {
        var unblocked = sigset_t()
        var previous = sigset_t()
        sigemptyset(&unblocked)
        pthread_sigmask(SIG_SETMASK, &unblocked, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        return try body()
    }

    /// Finds a program the way a shell would: in `PATH`, then in the usual system directories.
    ///
    /// - Parameter name: Program name, e.g. `redis-server`.
    /// - Returns: Its location, or `nil` when it is not installed.
    package static func locate(_ name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        for directory in directories where !directory.isEmpty {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) {
                return candidate
            }
        }
        return nil
    }

    /// The child's process id.
    package var processIdentifier: Int32 {
        self.process.withLock { $0.processIdentifier }
    }

    /// Whether the child has not exited yet.
    package var isRunning: Bool {
        self.process.withLock { $0.isRunning }
    }

    /// The exit status (or terminating signal), once the child has exited.
    package var terminationStatus: Int32? {
        self.process.withLock { $0.isRunning ? nil : $0.terminationStatus }
    }

    /// Sends a signal to the child if it is still running.
    ///
    /// - Parameter signal: Signal number, e.g. `SIGTERM`.
    package func send(signal: Int32) {
        self.process.withLock { process in
            guard process.isRunning else {
                return
            }
            _ = kill(process.processIdentifier, signal)
        }
    }

    /// Waits for the child to exit.
    ///
    /// - Parameter timeout: Longest wait.
    /// - Returns: `true` when the child has exited, `false` when the time ran out.
    package func waitForExit(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while self.isRunning {
            if ContinuousClock.now >= deadline {
                return false
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// Stops the child: SIGTERM, then SIGKILL if it has not exited within `gracePeriod`.
    ///
    /// - Parameter gracePeriod: Time allowed for a clean exit.
    package func terminate(gracePeriod: Duration) async {
        self.send(signal: SIGTERM)
        if await self.waitForExit(timeout: gracePeriod) {
            return
        }
        self.send(signal: SIGKILL)
        _ = await self.waitForExit(timeout: .seconds(5))
    }
}

extension ProcessRunner {
    /// Runs a command-line tool to completion (e.g. `redis-check-rdb`) and collects its output.
    /// - Returns: the exit status and standard output and error, merged.
    package static func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        guard let executable = Self.locate(tool) else { return (127, "\(tool) not found on PATH") }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

import Foundation

/// A stand-in Redis master (a Python script) that serves a given RDB file to `SYNC`, for failures a real Redis does
/// not produce: a corrupt snapshot, a master that pauses mid-payload and keeps the connection open after it.
///
/// It answers `PING` with `+PONG`, `INFO` with an error, every other command (`AUTH`, `REPLCONF`, …) with `+OK`,
/// listens on `port` (0: any free port, written to `portFile`), and serves the RDB in one of two forms:
/// - `disk`: `$<length>` and the bytes, then it closes, like a disk-based master;
/// - `pausing`: `$EOF:<mark>`, half the bytes, a 0.5 s pause, the rest and the mark, then it stays open (unlike
///   Redis, which closes an `rdb-only` replica after the RDB).
package final class StandInMaster: Sendable {
    package enum Form: String, Sendable {
        case disk
        case pausing
    }

    /// Why it could not start.
    package struct StartFailure: Error, CustomStringConvertible {
        package let reason: String
        package var description: String { "stand-in master: \(self.reason)" }
    }

    private let process: ProcessRunner
    /// The port it listens on.
    package let port: Int

    /// Starts the script and waits (at most 5 s) until it listens.
    package init(serving rdb: URL, form: Form, port: Int = 0, directory: TemporaryDirectory) async throws {
        guard let python = ProcessRunner.locate("python3") else { throw StartFailure(reason: "python3 is not installed") }
        let portFile = directory.file("stand-in-master.port")
        try? FileManager.default.removeItem(at: portFile)
        self.process = try ProcessRunner(
            executable: python, arguments: ["-c", Self.script, rdb.path, form.rawValue, "\(port)", portFile.path])
        var listening: Int?
        for _ in 0..<200 where listening == nil {
            listening = (try? String(contentsOf: portFile, encoding: .utf8)).flatMap { Int($0) }
            if listening == nil { try await Task.sleep(for: .milliseconds(25)) }
        }
        guard let listening else {
            await self.process.terminate(gracePeriod: .seconds(1))
            throw StartFailure(reason: "the stand-in master did not write its port within 5 s")
        }
        self.port = listening
    }

    package func stop() async { await self.process.terminate(gracePeriod: .seconds(1)) }

    static let script = """
        import socket, sys, time
        data, form, port, port_file = open(sys.argv[1], 'rb').read(), sys.argv[2], int(sys.argv[3]), sys.argv[4]
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(('127.0.0.1', port))
        server.listen(8)
        open(port_file, 'w').write(str(server.getsockname()[1]))
        mark = b'0123456789abcdef0123456789abcdef01234567'
        while True:
            conn, _ = server.accept()
            stream = conn.makefile('rb')
            try:
                while True:
                    header = stream.readline()
                    if not header:
                        break
                    words = []
                    for _ in range(int(header[1:])):
                        length = int(stream.readline()[1:])
                        words.append(stream.read(length + 2)[:-2].decode().upper())
                    if words[0] == 'PING':
                        conn.sendall(b'+PONG\\r\\n')
                    elif words[0] == 'INFO':
                        conn.sendall(b'-ERR not here\\r\\n')
                    elif words[0] == 'SYNC' and form == 'disk':
                        conn.sendall(b'$%d\\r\\n' % len(data) + data)
                        break
                    elif words[0] == 'SYNC':
                        conn.sendall(b'$EOF:' + mark + b'\\r\\n' + data[:len(data) // 2])
                        time.sleep(0.5)
                        conn.sendall(data[len(data) // 2:] + mark)
                        time.sleep(60)
                        break
                    else:
                        conn.sendall(b'+OK\\r\\n')
            except Exception:
                pass
            conn.close()
        """
}

import Logging
import NIOCore

/// One TCP connection to a Redis server, speaking RESP2.
///
/// Concurrency: an `actor`, so it can be shared between tasks. Every request (a command, or a pipeline of
/// commands) holds the connection exclusively from its first written byte to its last reply byte, in
/// FIFO order, so replies can never be handed to the wrong caller even though actor methods are
/// re-entrant at each `await`.
///
/// I/O: the socket is wrapped in a plain `NIOAsyncChannel<ByteBuffer, ByteBuffer>` with no decoder in the
/// pipeline. The actor owns the inbound iterator and a read buffer and parses replies itself with
/// ``RESPParser``, which never consumes an incomplete value. That keeps the byte stream in one place, so
/// the replication code can read the raw RDB payload that follows `SYNC` from the same buffer.
///
/// Failures: an error reply (`-ERR …`) is a value (``RESPValue/error(_:)``) from ``command(_:timeout:)``
/// and a thrown ``RedisError`` from ``commandExpectingSuccess(_:timeout:)``. Any thrown failure (time-out,
/// closed socket, protocol violation) leaves the stream in an unknown state, so the connection closes
/// itself and every later request throws ``RedisError/connectionClosed``.
package actor RedisConnection {
    /// Lifecycle of the connection; only `.open` accepts requests.
    enum State {
        case open
        /// A request failed in a way that leaves the stream unusable; the socket is closed.
        case failed
        /// ``close()`` was called.
        case closed
    }

    /// The socket, kept to close it and to schedule time-outs on its event loop.
    let channel: any Channel
    /// Writes request bytes to the socket.
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    /// Yields the byte chunks read from the socket; one iterator for the connection's whole life.
    var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    /// Bytes received and not yet consumed by a parsed reply (or, later, by a raw reader).
    var readBuffer: ByteBuffer
    /// Parses replies from `readBuffer`.
    let parser: RESPParser
    /// Encodes requests.
    let encoder: RESPEncoder
    /// The default bound of one request, also used for connecting.
    package let defaultTimeout: Duration
    /// Carries `redis.endpoint` metadata (host and port, never the password).
    let logger: Logger
    /// Whether requests are still accepted.
    var state: State
    /// Whether a request currently owns the socket.
    var isBusy: Bool
    /// Requests waiting for the socket, oldest first.
    var waiters: [CheckedContinuation<Void, Never>]

    init(asyncChannel: NIOAsyncChannel<ByteBuffer, ByteBuffer>, defaultTimeout: Duration, logger: Logger) {
        self.channel = asyncChannel.channel
        let streams: some LongLivedAsyncChannel<ByteBuffer, ByteBuffer> = asyncChannel
        self.inbound = streams.inbound.makeAsyncIterator()
        self.outbound = streams.outbound
        self.readBuffer = ByteBuffer()
        self.parser = RESPParser()
        self.encoder = RESPEncoder()
        self.defaultTimeout = defaultTimeout
        self.logger = logger
        self.state = .open
        self.isBusy = false
        self.waiters = []
    }

    deinit {
        // A connection dropped without `close()` (a cancelled caller, a test past its time limit) must neither leak
        // its socket nor trap: NIO's writer traps when deinited unfinished, which took down a whole test run.
        self.outbound.finish()
        self.channel.close(promise: nil)
    }

    /// `true` until the connection is closed or has failed.
    package var isOpen: Bool {
        if case .open = self.state {
            return true
        }
        return false
    }

    /// Sends one command and returns its reply, error replies included.
    ///
    /// - Parameters:
    ///   - arguments: Command name and arguments, e.g. `["SET", "key", "value"]`.
    ///   - timeout: Bound for writing the command and reading the reply; `nil` uses ``defaultTimeout``.
    /// - Returns: The reply; a `-ERR` reply is returned as ``RESPValue/error(_:)``.
    /// - Throws: ``RedisError`` for time-outs, a closed connection or a protocol violation.
    package func command(_ arguments: [String], timeout: Duration? = nil) async throws -> RESPValue {
        var request = ByteBuffer()
        self.encoder.encode(arguments, into: &request)
        return try await self.request(request, replies: 1, name: Self.commandName(arguments.first), timeout: timeout)[0]
    }

    /// Sends one command and returns its reply, error replies included, with the default time-out.
    ///
    /// - Parameter arguments: Command name and arguments, e.g. `"GET", "key"`.
    /// - Returns: The reply.
    /// - Throws: ``RedisError`` for time-outs, a closed connection or a protocol violation.
    package func command(_ arguments: String...) async throws -> RESPValue {
        try await self.command(arguments)
    }

    /// Sends one command whose arguments are raw bytes (e.g. `RESTORE` with a DUMP payload).
    ///
    /// - Parameters:
    ///   - arguments: Command name and arguments as bytes.
    ///   - timeout: Bound for the round trip; `nil` uses ``defaultTimeout``.
    /// - Returns: The reply, error replies included.
    /// - Throws: ``RedisError`` for time-outs, a closed connection or a protocol violation.
    package func command(bytes arguments: [ByteBuffer], timeout: Duration? = nil) async throws -> RESPValue {
        var request = ByteBuffer()
        self.encoder.encode(arguments, into: &request)
        let name = Self.commandName(arguments.first.map { String(buffer: $0) })
        return try await self.request(request, replies: 1, name: name, timeout: timeout)[0]
    }

    /// Sends one command and throws if the server answers with an error reply.
    ///
    /// - Parameters:
    ///   - arguments: Command name and arguments.
    ///   - timeout: Bound for the round trip; `nil` uses ``defaultTimeout``.
    /// - Returns: The (non-error) reply.
    /// - Throws: ``RedisError/server(_:)`` or ``RedisError/authenticationFailed(_:)`` for an error reply,
    ///   other ``RedisError`` cases as ``command(_:timeout:)``.
    @discardableResult
    package func commandExpectingSuccess(_ arguments: [String], timeout: Duration? = nil) async throws -> RESPValue {
        let reply = try await self.command(arguments, timeout: timeout)
        if case .error(let message) = reply {
            throw RedisError.fromErrorReply(message)
        }
        return reply
    }

    /// Variadic form of ``commandExpectingSuccess(_:timeout:)`` with the default time-out.
    ///
    /// - Parameter arguments: Command name and arguments.
    /// - Returns: The (non-error) reply.
    /// - Throws: ``RedisError``, error replies included.
    @discardableResult
    package func commandExpectingSuccess(_ arguments: String...) async throws -> RESPValue {
        try await self.commandExpectingSuccess(arguments)
    }

    /// Sends several commands in one write and reads all their replies (pipelining).
    ///
    /// One round trip instead of one per command, which matters for bulk work such as restoring keys.
    ///
    /// - Parameters:
    ///   - commands: The commands, each as name and arguments.
    ///   - timeout: Bound for the whole pipeline; `nil` uses ``defaultTimeout``.
    /// - Returns: One reply per command, in order; error replies are values.
    /// - Throws: ``RedisError`` for time-outs, a closed connection or a protocol violation.
    package func pipeline(_ commands: [[String]], timeout: Duration? = nil) async throws -> [RESPValue] {
        guard !commands.isEmpty else {
            return []
        }
        var request = ByteBuffer()
        for command in commands {
            self.encoder.encode(command, into: &request)
        }
        return try await self.request(request, replies: commands.count, name: "pipeline", timeout: timeout)
    }

    /// Runs `INFO` and parses its reply.
    ///
    /// - Parameters:
    ///   - section: One section (`server`, `memory`, `keyspace`, …) or `nil` for the default set.
    ///   - timeout: Bound for the round trip; `nil` uses ``defaultTimeout``.
    /// - Returns: The parsed fields.
    /// - Throws: ``RedisError``, error replies included (e.g. `NOPERM` without `+info`).
    package func info(_ section: String? = nil, timeout: Duration? = nil) async throws -> RedisInfo {
        let reply = try await self.commandExpectingSuccess(["INFO"] + (section.map { [$0] } ?? []), timeout: timeout)
        guard let text = reply.string else {
            throw RedisError.protocolViolation("INFO did not return a string")
        }
        return RedisInfo(parsing: text)
    }

    /// Closes the socket. Safe to call more than once; a request in flight fails with
    /// ``RedisError/connectionClosed``.
    package func close() async {
        if case .closed = self.state {
            return
        }
        self.state = .closed
        self.outbound.finish()
        self.channel.close(promise: nil)
        try? await self.channel.closeFuture.get()
        self.logger.debug("Redis connection closed")
    }

    /// The command name for logs: the first argument only, because the others may be secrets or user data.
    static func commandName(_ first: String?) -> String {
        guard let first else {
            return "(empty)"
        }
        return String(first.prefix(32)).uppercased()
    }
}

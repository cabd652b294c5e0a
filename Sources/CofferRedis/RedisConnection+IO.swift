import Logging
import NIOCore
import Synchronization

extension RedisConnection {
    /// Writes `request` and reads `replies` replies, holding the socket exclusively meanwhile.
    ///
    /// - Parameters:
    ///   - request: Encoded command(s).
    ///   - replies: How many replies to read.
    ///   - name: Command name for logs and errors.
    ///   - timeout: Bound for the whole exchange; `nil` uses ``defaultTimeout``.
    /// - Returns: The replies in order.
    /// - Throws: ``RedisError``; the connection is closed after any thrown error.
    func request(_ request: ByteBuffer, replies: Int, name: String, timeout: Duration?) async throws -> [RESPValue] {
        await self.acquire()
        defer { self.release() }
        try Task.checkCancellation()
        guard case .open = self.state else {
            throw RedisError.connectionClosed
        }
        self.logger.trace("Redis request", metadata: ["redis.command": "\(name)", "redis.replies": "\(replies)"])
        return try await self.withDeadline(timeout ?? self.defaultTimeout, operation: name) {
            try await self.outbound.write(request)
            var values: [RESPValue] = []
            values.reserveCapacity(replies)
            for _ in 0..<replies {
                values.append(try await self.readValue())
            }
            return values
        }
    }

    /// Reads one complete reply, receiving more bytes as needed.
    ///
    /// - Returns: The reply.
    /// - Throws: ``RedisError/connectionClosed`` at end of stream, ``RedisError/protocolViolation(_:)``.
    func readValue() async throws -> RESPValue {
        while true {
            if let value = try self.parser.parse(&self.readBuffer) {
                return value
            }
            guard try await self.receive() else {
                throw RedisError.connectionClosed
            }
        }
    }

    /// Appends the next chunk read from the socket to ``readBuffer``.
    ///
    /// The building block for every reader of the stream: the RESP reply reader here and raw payload readers
    /// (replication) that consume ``readBuffer`` directly.
    ///
    /// - Returns: `false` at end of stream.
    /// - Throws: Socket errors from the channel.
    func receive() async throws -> Bool {
        // An actor cannot mutate a stored iterator across a suspension point, so take a copy; the iterator's
        // state lives in a reference, and only the request holding the socket ever gets here. The iterator is
        // not Sendable, so it is advanced on this actor (`isolation: self`), never handed to another executor.
        var iterator = self.inbound
        let chunk = try await iterator.next(isolation: self)
        self.inbound = iterator
        guard var chunk else {
            return false
        }
        if self.readBuffer.readableBytes == 0 {
            self.readBuffer = chunk
        } else {
            if self.readBuffer.readerIndex > 64 * 1024 {
                self.readBuffer.discardReadBytes()
            }
            self.readBuffer.writeBuffer(&chunk)
        }
        return true
    }

    /// Runs `body` with a deadline; when it passes, the socket is closed, which ends any pending read or
    /// write, and the failure is reported as ``RedisError/timedOut(_:)``.
    ///
    /// Closing is the only safe reaction anyway: a late reply would otherwise be taken as the answer to the
    /// next command. Any error thrown by `body` marks the connection failed and closes it, for the same reason.
    func withDeadline<Result>(
        _ timeout: Duration,
        operation: String,
        _ body: () async throws -> Result
    ) async throws -> Result {
        let expired = DeadlineFlag()
        let channel = self.channel
        let timer = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            expired.fire()
            channel.close(promise: nil)
        }
        do {
            let result = try await body()
            timer.cancel()
            if expired.hasFired {
                // The reply arrived as the timer closed the socket: the result stands, the socket is gone.
                self.fail()
            }
            return result
        } catch {
            timer.cancel()
            let mapped: any Error
            if expired.hasFired {
                mapped = RedisError.timedOut("no reply to \(operation) within \(timeout)")
            } else if error is CancellationError || Task.isCancelled {
                mapped = CancellationError()
            } else if let error = error as? RedisError {
                mapped = error
            } else {
                // Socket errors (reset, write on a closed channel, …): the connection is gone either way.
                mapped = RedisError.connectionClosed
            }
            self.fail()
            self.logger.debug(
                "Redis request failed",
                metadata: ["redis.command": "\(operation)", "error": "\(mapped)", "error.underlying": "\(error)"]
            )
            throw mapped
        }
    }

    /// Marks the connection unusable and closes the socket.
    func fail() {
        if case .open = self.state {
            self.state = .failed
        }
        self.outbound.finish()
        self.channel.close(promise: nil)
    }

    /// Waits until no other request holds the socket, in arrival order.
    func acquire() async {
        if !self.isBusy {
            self.isBusy = true
            return
        }
        await withCheckedContinuation { continuation in
            self.waiters.append(continuation)
        }
    }

    /// Hands the socket to the next waiting request, or marks it free.
    func release() {
        if self.waiters.isEmpty {
            self.isBusy = false
        } else {
            self.waiters.removeFirst().resume()
        }
    }
}

/// Set from the event loop when a request's deadline passes, read by the request afterwards.
private final class DeadlineFlag: Sendable {
    private let fired = Atomic<Bool>(false)

    func fire() {
        self.fired.store(true, ordering: .releasing)
    }

    var hasFired: Bool {
        self.fired.load(ordering: .acquiring)
    }
}

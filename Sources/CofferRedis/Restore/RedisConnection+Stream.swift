import NIOCore

/// A windowed pipeline for bulk writes (restores): requests are written without waiting for their replies, and
/// the replies are read by another task at the same time, so the server always has work queued and the client
/// never stops producing to wait for a round trip.
///
/// ``RedisConnection/beginPipeline()`` reserves the connection for the whole stream: nothing else may use it
/// meanwhile (replies are matched by order only). Inside, one task sends and one task receives; each call runs
/// under its own deadline, and any failure closes the connection, as for every request.
package struct RedisPipeline: Sendable {
    let connection: RedisConnection

    /// Writes encoded commands whose replies will be read with ``receive(_:timeout:)``. One sending task.
    package func send(_ request: ByteBuffer, timeout: Duration) async throws {
        try await self.connection.pipelineSend(request, timeout: timeout)
    }

    /// Reads `count` replies of commands sent with ``send(_:timeout:)``, error replies included. One receiving task.
    package func receive(_ count: Int, timeout: Duration) async throws -> [RESPValue] {
        try await self.connection.pipelineReceive(count, timeout: timeout)
    }
}

extension RedisConnection {
    /// Reserves the connection for a pipeline: other requests wait until ``endPipeline()``, which the caller
    /// must call on every path.
    package func beginPipeline() async throws -> RedisPipeline {
        await self.acquire()
        guard case .open = self.state else {
            self.release()
            throw RedisError.connectionClosed
        }
        return RedisPipeline(connection: self)
    }

    /// Ends the pipeline ``beginPipeline()`` began.
    package func endPipeline() {
        self.release()
    }

    /// The send half: it touches only the outbound writer, so it may run while the receive half is suspended
    /// waiting for bytes (the actor is reentrant there).
    func pipelineSend(_ request: ByteBuffer, timeout: Duration) async throws {
        try Task.checkCancellation()
        guard case .open = self.state else { throw RedisError.connectionClosed }
        try await self.withDeadline(timeout, operation: "pipelined write") {
            try await self.outbound.write(request)
        }
    }

    func pipelineReceive(_ count: Int, timeout: Duration) async throws -> [RESPValue] {
        try Task.checkCancellation()
        guard case .open = self.state else { throw RedisError.connectionClosed }
        return try await self.withDeadline(timeout, operation: "pipelined replies") {
            var values: [RESPValue] = []
            values.reserveCapacity(count)
            for _ in 0..<count { values.append(try await self.readValue()) }
            return values
        }
    }
}

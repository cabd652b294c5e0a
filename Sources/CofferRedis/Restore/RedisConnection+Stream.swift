import NIOCore

/// A windowed pipeline for bulk writes (restores): requests are written without waiting for their replies,
/// and the replies are read later, so the server always has work queued while the client reads.
///
/// The caller owns the connection for the whole stream: it must read exactly as many replies as it sent
/// commands, and nothing else may use the connection meanwhile (replies are matched by order only). Each
/// call holds the socket only for its own write or read, under its own deadline; any failure closes the
/// connection, as for every request.
extension RedisConnection {
    /// Writes encoded commands whose replies will be read with ``streamReceive(_:timeout:)``.
    package func streamSend(_ request: ByteBuffer, timeout: Duration? = nil) async throws {
        await self.acquire()
        defer { self.release() }
        try Task.checkCancellation()
        guard case .open = self.state else { throw RedisError.connectionClosed }
        try await self.withDeadline(timeout ?? self.defaultTimeout, operation: "pipelined write") {
            try await self.outbound.write(request)
        }
    }

    /// Reads `count` replies of commands sent with ``streamSend(_:timeout:)``, error replies included.
    package func streamReceive(_ count: Int, timeout: Duration? = nil) async throws -> [RESPValue] {
        await self.acquire()
        defer { self.release() }
        try Task.checkCancellation()
        guard case .open = self.state else { throw RedisError.connectionClosed }
        return try await self.withDeadline(timeout ?? self.defaultTimeout, operation: "pipelined replies") {
            var values: [RESPValue] = []
            values.reserveCapacity(count)
            for _ in 0..<count { values.append(try await self.readValue()) }
            return values
        }
    }
}

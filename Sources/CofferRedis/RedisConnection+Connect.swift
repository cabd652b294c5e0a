import Logging
import NIOCore
import NIOPosix

extension RedisConnection {
    /// Opens a connection, authenticates, and checks that the server answers.
    ///
    /// Authentication: `AUTH <password>` when only a password is set, `AUTH <username> <password>` when both
    /// are (Redis 6+ ACL users); no `AUTH` without a password. Without a password a `PING` is sent instead, so
    /// that a server requiring a password fails here (`NOAUTH`) rather than at the first real command.
    ///
    /// - Parameters:
    ///   - endpoint: Server address and credentials.
    ///   - timeout: Bound for the TCP connect and for each request, including `AUTH`/`PING` here; becomes
    ///     the connection's ``defaultTimeout``.
    ///   - logger: Receives debug/trace lines with `redis.endpoint` metadata; passwords are never logged.
    /// - Returns: An open, authenticated connection.
    /// - Throws: ``RedisError/unreachable(_:)``, ``RedisError/timedOut(_:)``,
    ///   ``RedisError/authenticationFailed(_:)`` or ``RedisError/protocolViolation(_:)``.
    package static func connect(to endpoint: RedisEndpoint, timeout: Duration, logger: Logger) async throws -> RedisConnection {
        var logger = logger
        logger[metadataKey: "redis.endpoint"] = "\(endpoint.host):\(endpoint.port)"
        let asyncChannel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            asyncChannel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount(timeout))
                // Reads of up to 1 MiB: a snapshot pull moves gigabytes, and every read is a syscall and an actor hop.
                .channelOption(ChannelOptions.socketOption(.so_rcvbuf), value: 4 << 20)
                .channelOption(
                    ChannelOptions.recvAllocator,
                    value: AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 64 * 1024, maximum: 1024 * 1024))
                .connect(host: endpoint.host, port: endpoint.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // Room for a burst between the socket and the reader (a snapshot pull), so NIO keeps
                        // reading, and the master keeps writing, while the reader hashes and stores a chunk.
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(backPressureStrategy: .init(lowWatermark: 8, highWatermark: 32)))
                    }
                }
        } catch {
            let mapped = Self.connectFailure(error, endpoint: endpoint, timeout: timeout)
            logger.debug("Redis connect failed", metadata: ["error": "\(mapped)"])
            throw mapped
        }
        let connection = RedisConnection(asyncChannel: asyncChannel, defaultTimeout: timeout, logger: logger)
        do {
            try await connection.authenticate(username: endpoint.username, password: endpoint.password)
        } catch {
            await connection.close()
            throw error
        }
        logger.debug("Redis connection open")
        return connection
    }

    /// Opens a connection, runs `body` with it and closes it whatever happens.
    ///
    /// - Parameters:
    ///   - endpoint: Server address and credentials.
    ///   - timeout: As for ``connect(to:timeout:logger:)``.
    ///   - logger: As for ``connect(to:timeout:logger:)``.
    ///   - body: Work to do on the connection.
    /// - Returns: What `body` returns.
    /// - Throws: The connect errors, or what `body` throws.
    package static func withConnection<Result: Sendable>(
        to endpoint: RedisEndpoint,
        timeout: Duration,
        logger: Logger,
        _ body: (RedisConnection) async throws -> Result
    ) async throws -> Result {
        let connection = try await Self.connect(to: endpoint, timeout: timeout, logger: logger)
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Sends `AUTH` (or `PING` when there is no password) and classifies the answer.
    private func authenticate(username: String?, password: String?) async throws {
        guard let password else {
            let reply = try await self.command(["PING"])
            switch reply {
            case .simpleString("PONG"):
                return
            case .error(let message):
                throw RedisError.fromErrorReply(message)
            default:
                throw RedisError.protocolViolation("unexpected reply to PING")
            }
        }
        var arguments = ["AUTH"]
        if let username {
            arguments.append(username)
        }
        arguments.append(password)
        self.logger.trace("Authenticating", metadata: ["redis.user": "\(username ?? "default")"])
        let reply = try await self.command(arguments)
        switch reply {
        case .simpleString:
            return
        case .error(let message):
            // Any refusal of AUTH is a credential problem from the user's point of view, including
            // "wrong number of arguments" from a pre-6.0 server given a user name.
            throw RedisError.authenticationFailed(message)
        default:
            throw RedisError.protocolViolation("unexpected reply to AUTH")
        }
    }

    /// Maps a bootstrap error to ``RedisError``.
    private static func connectFailure(_ error: any Error, endpoint: RedisEndpoint, timeout: Duration) -> RedisError {
        let target = "\(endpoint.host):\(endpoint.port)"
        switch error {
        case ChannelError.connectTimeout:
            return .timedOut("connecting to \(target) took longer than \(timeout)")
        case let error as NIOConnectionError:
            if let dnsError = error.dnsAError ?? error.dnsAAAAError {
                return .unreachable("cannot resolve \(endpoint.host): \(dnsError)")
            }
            if error.connectionErrors.contains(where: { if case ChannelError.connectTimeout = $0.error { true } else { false } }) {
                return .timedOut("connecting to \(target) took longer than \(timeout)")
            }
            let reasons = error.connectionErrors.map { Self.reason($0.error) }
            return .unreachable("cannot connect to \(target): \(reasons.isEmpty ? "no address" : reasons.joined(separator: "; "))")
        default:
            return .unreachable("cannot connect to \(target): \(Self.reason(error))")
        }
    }

    /// A short reason for a socket error: the OS message for `IOError`, else the error's description.
    private static func reason(_ error: any Error) -> String {
        if let ioError = error as? IOError {
            return "\(ioError.description)"
        }
        return String(describing: error)
    }
}

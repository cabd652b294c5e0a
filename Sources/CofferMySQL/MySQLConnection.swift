import Logging
import NIOCore
import NIOPosix
import Synchronization

/// One connection to a MySQL or MariaDB server over the classic client/server protocol: handshake v10,
/// `mysql_native_password` (with auth switch), `COM_QUERY` with text result sets, `COM_QUIT`.
///
/// Just what Coffer needs to check credentials, create databases and coordinate a consistent cut; the data
/// itself is read by `mariadb-dump`. An `actor` whose statements are queued: each one owns the socket from its
/// first written byte to its last answer byte, in FIFO order, so tasks can share a connection.
package actor MySQLConnection {
    /// What the handshake said.
    package private(set) var serverInfo = MySQLServerInfo(serverVersion: "", connectionID: 0)
    package nonisolated let endpoint: MySQLEndpoint
    let channel: any Channel
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    var readBuffer = ByteBuffer()
    var isOpen = true
    /// Whether a statement owns the socket, and the statements waiting for it.
    private var isBusy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    let timeout: Duration
    let logger: Logger

    private init(
        channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>, endpoint: MySQLEndpoint, timeout: Duration, logger: Logger
    ) {
        self.channel = channel.channel
        let streams: some LongLivedChannel<ByteBuffer, ByteBuffer> = channel
        self.inbound = streams.inbound.makeAsyncIterator()
        self.outbound = streams.outbound
        self.endpoint = endpoint
        self.timeout = timeout
        self.logger = logger
    }

    deinit {
        // A connection dropped without `close()` must not leak its socket (nor trip NIO's writer check).
        self.outbound.finish()
        self.channel.close(promise: nil)
    }

    /// Connects and logs in.
    /// - Parameters:
    ///   - endpoint: address and credentials.
    ///   - database: the default database, if any.
    ///   - timeout: bound of the connect, the login and, by default, of every statement.
    /// - Throws: `MySQLError.unreachable`, `.timedOut`, `.authenticationFailed` or `.protocolViolation`.
    package static func connect(
        to endpoint: MySQLEndpoint, database: String? = nil, timeout: Duration = .seconds(5), logger: Logger
    ) async throws -> MySQLConnection {
        let asyncChannel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            asyncChannel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount(timeout))
                .connect(host: endpoint.host, port: endpoint.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch ChannelError.connectTimeout {
            throw MySQLError.timedOut("connecting to \(endpoint.address) took longer than \(timeout)")
        } catch {
            throw MySQLError.unreachable("cannot connect to \(endpoint.address): \(error)")
        }
        let connection = MySQLConnection(channel: asyncChannel, endpoint: endpoint, timeout: timeout, logger: logger)
        let expired = ExpiryFlag()
        let timer = asyncChannel.channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            expired.fire()
            asyncChannel.channel.close(promise: nil)
        }
        defer { timer.cancel() }
        do {
            try await connection.login(database: database)
        } catch {
            await connection.abortSession()
            if expired.hasFired { throw MySQLError.timedOut("no login answer from \(endpoint.address) within \(timeout)") }
            if let error = error as? MySQLError { throw error }
            throw MySQLError.connectionClosed
        }
        return connection
    }

    private func abortSession() { self.fail() }

    /// Connects, reads the server's greeting and disconnects without logging in: the engine and version of
    /// whatever listens there, whatever the account.
    package static func greeting(of endpoint: MySQLEndpoint, timeout: Duration = .seconds(5), logger: Logger) async throws -> MySQLServerInfo {
        var anonymous = endpoint
        anonymous.user = ""
        let asyncChannel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            asyncChannel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount(timeout))
                .connect(host: endpoint.host, port: endpoint.port) { channel in
                    channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                }
        } catch {
            throw MySQLError.unreachable("cannot connect to \(endpoint.address): \(error)")
        }
        let connection = MySQLConnection(channel: asyncChannel, endpoint: anonymous, timeout: timeout, logger: logger)
        let timer = asyncChannel.channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) { asyncChannel.channel.close(promise: nil) }
        defer { timer.cancel() }
        do {
            let info = try await connection.readGreeting()
            await connection.abortSession()
            return info
        } catch {
            await connection.abortSession()
            throw (error as? MySQLError) ?? MySQLError.timedOut("no greeting from \(endpoint.address) within \(timeout)")
        }
    }

    private func readGreeting() async throws -> MySQLServerInfo {
        var greeting = try await self.readPacket()
        if greeting.readableBytesView.first == 0xFF { throw MySQLWire.error(from: greeting) }
        guard greeting.readInteger(as: UInt8.self) == 10, let version = MySQLWire.readNullTerminated(&greeting),
            let connectionID = greeting.readInteger(endianness: .little, as: UInt32.self)
        else { throw MySQLError.protocolViolation("not a MySQL handshake v10") }
        return MySQLServerInfo(serverVersion: String(decoding: version, as: UTF8.self), connectionID: connectionID)
    }

    /// Reads the handshake v10, answers it with `mysql_native_password`, follows an auth switch.
    private func login(database: String?) async throws {
        var greeting = try await self.readPacket()
        if greeting.readableBytesView.first == 0xFF { throw MySQLWire.error(from: greeting) }
        guard greeting.readInteger(as: UInt8.self) == 10,
            let version = MySQLWire.readNullTerminated(&greeting),
            let connectionID = greeting.readInteger(endianness: .little, as: UInt32.self),
            let part1 = greeting.readBytes(length: 8)
        else { throw MySQLError.protocolViolation("not a MySQL handshake v10") }
        greeting.moveReaderIndex(forwardBy: 1)
        let lowCapabilities = UInt32(greeting.readInteger(endianness: .little, as: UInt16.self) ?? 0)
        _ = greeting.readInteger(as: UInt8.self)  // charset
        _ = greeting.readInteger(endianness: .little, as: UInt16.self)  // status
        let highCapabilities = UInt32(greeting.readInteger(endianness: .little, as: UInt16.self) ?? 0)
        let serverCapabilities = lowCapabilities | highCapabilities << 16
        let dataLength = Int(greeting.readInteger(as: UInt8.self) ?? 0)
        greeting.moveReaderIndex(forwardBy: min(10, greeting.readableBytes))
        var scramble = part1
        if serverCapabilities & 0x8000 != 0 {
            let length = max(13, dataLength - 8)
            scramble += (greeting.readBytes(length: min(length, greeting.readableBytes)) ?? []).prefix(12)
        }
        self.serverInfo = MySQLServerInfo(serverVersion: String(decoding: version, as: UTF8.self), connectionID: connectionID)

        var capabilities = MySQLWire.clientCapabilities
        if database != nil { capabilities |= 0x0000_0008 }  // CLIENT_CONNECT_WITH_DB
        var response = ByteBuffer()
        response.writeInteger(capabilities, endianness: .little)
        response.writeInteger(UInt32(1 << 24), endianness: .little)
        response.writeInteger(UInt8(45))  // utf8mb4_general_ci
        response.writeRepeatingByte(0, count: 23)
        response.writeString(self.endpoint.user)
        response.writeInteger(UInt8(0))
        let auth = MySQLWire.nativePasswordResponse(password: self.endpoint.password, scramble: scramble)
        response.writeInteger(UInt8(auth.count))
        response.writeBytes(auth)
        if let database {
            response.writeString(database)
            response.writeInteger(UInt8(0))
        }
        response.writeString("mysql_native_password")
        response.writeInteger(UInt8(0))
        try await self.send(response, sequence: 1)

        var sequence: UInt8 = 3
        while true {
            var answer = try await self.readPacket()
            switch answer.readableBytesView.first {
            case 0x00:
                return
            case 0xFF:
                let error = MySQLWire.error(from: answer)
                if case .server(let code, _, let message) = error, [1044, 1045, 1698, 1251].contains(code) {
                    throw MySQLError.authenticationFailed(message)
                }
                throw error
            case 0xFE:
                answer.moveReaderIndex(forwardBy: 1)
                let plugin = MySQLWire.readNullTerminated(&answer).map { String(decoding: $0, as: UTF8.self) } ?? ""
                guard plugin == "mysql_native_password" else {
                    throw MySQLError.protocolViolation("the server asks for the \(plugin) authentication plugin; Coffer supports mysql_native_password")
                }
                let salt = answer.readBytes(length: min(20, answer.readableBytes)) ?? []
                var reply = ByteBuffer()
                reply.writeBytes(MySQLWire.nativePasswordResponse(password: self.endpoint.password, scramble: salt))
                try await self.send(reply, sequence: sequence)
                sequence &+= 2
            default:
                throw MySQLError.protocolViolation("unexpected packet during login")
            }
        }
    }

    /// Runs `body` on a new connection and closes it whatever happens.
    package static func withConnection<R: Sendable>(
        to endpoint: MySQLEndpoint, database: String? = nil, timeout: Duration = .seconds(5), logger: Logger,
        _ body: (MySQLConnection) async throws -> R
    ) async throws -> R {
        let connection = try await Self.connect(to: endpoint, database: database, timeout: timeout, logger: logger)
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Sends one statement (`COM_QUERY`) and reads its whole answer.
    /// - Parameter timeout: bound of this statement; the connection's default when nil. On expiry the
    ///   socket is closed (which also ends the server session and releases its locks).
    /// - Throws: `MySQLError.server` for an `ERR` answer (the connection stays usable), other errors close it.
    @discardableResult
    package func query(_ sql: String, timeout: Duration? = nil) async throws -> MySQLResultSet {
        await self.acquire()
        defer { self.releaseSocket() }
        guard self.isOpen else { throw MySQLError.connectionClosed }
        let limit = timeout ?? self.timeout
        let channel = self.channel
        let expired = ExpiryFlag()
        let timer = channel.eventLoop.scheduleTask(in: TimeAmount(limit)) {
            expired.fire()
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        do {
            var packet = ByteBuffer()
            packet.writeInteger(UInt8(0x03))
            packet.writeString(sql)
            try await self.send(packet, sequence: 0)
            return try await self.readResult()
        } catch let error as MySQLError {
            if case .server = error { return try Self.rethrow(error) }
            self.fail()
            if expired.hasFired { throw MySQLError.timedOut("no answer to a statement within \(limit)") }
            throw error
        } catch {
            self.fail()
            if expired.hasFired { throw MySQLError.timedOut("no answer to a statement within \(limit)") }
            if error is CancellationError { throw error }
            throw MySQLError.connectionClosed
        }
    }

    private static func rethrow(_ error: MySQLError) throws -> MySQLResultSet { throw error }

    private func acquire() async {
        guard self.isBusy else {
            self.isBusy = true
            return
        }
        await withCheckedContinuation { self.waiters.append($0) }
    }

    private func releaseSocket() {
        if self.waiters.isEmpty {
            self.isBusy = false
        } else {
            self.waiters.removeFirst().resume()
        }
    }

    /// Sends `COM_QUIT` and closes the socket.
    package func close() async {
        guard self.isOpen else { return }
        var packet = ByteBuffer()
        packet.writeInteger(UInt8(0x01))
        try? await self.send(packet, sequence: 0)
        self.fail()
    }

    /// Closes the socket at once, without `COM_QUIT` (the server notices and ends the session).
    package nonisolated func abort() {
        self.outbound.finish()
        self.channel.close(promise: nil)
    }

    func fail() {
        self.isOpen = false
        self.outbound.finish()
        self.channel.close(promise: nil)
    }

    // MARK: - Packets

    func send(_ payload: ByteBuffer, sequence: UInt8) async throws {
        var frame = ByteBuffer()
        frame.writeInteger(UInt32(payload.readableBytes) | UInt32(sequence) << 24, endianness: .little)
        var payload = payload
        frame.writeBuffer(&payload)
        try await self.outbound.write(frame)
    }

    func readPacket() async throws -> ByteBuffer {
        while true {
            if self.readBuffer.readableBytes >= 4, let header = self.readBuffer.getInteger(at: self.readBuffer.readerIndex, endianness: .little, as: UInt32.self) {
                let length = Int(header & 0x00FF_FFFF)
                if self.readBuffer.readableBytes >= 4 + length {
                    self.readBuffer.moveReaderIndex(forwardBy: 4)
                    return self.readBuffer.readSlice(length: length)!
                }
            }
            var iterator = self.inbound
            let chunk = try await iterator.next(isolation: self)
            self.inbound = iterator
            guard var chunk else { throw MySQLError.connectionClosed }
            if self.readBuffer.readerIndex > 64 * 1024 { self.readBuffer.discardReadBytes() }
            self.readBuffer.writeBuffer(&chunk)
        }
    }

    private func readResult() async throws -> MySQLResultSet {
        var first = try await self.readPacket()
        switch first.readableBytesView.first {
        case 0x00:
            first.moveReaderIndex(forwardBy: 1)
            let affected = try MySQLWire.readLengthEncodedInteger(&first) ?? 0
            return MySQLResultSet(affectedRows: affected)
        case 0xFF:
            throw MySQLWire.error(from: first)
        case 0xFB:
            throw MySQLError.protocolViolation("LOCAL INFILE is not supported")
        default:
            guard let count = try MySQLWire.readLengthEncodedInteger(&first) else { throw MySQLError.protocolViolation("column count") }
            var columns: [String] = []
            for _ in 0..<count {
                var definition = try await self.readPacket()
                for _ in 0..<4 { _ = try MySQLWire.readLengthEncodedString(&definition) }  // catalog, schema, table, org_table
                columns.append(try MySQLWire.readLengthEncodedString(&definition) ?? "")
            }
            let eof = try await self.readPacket()
            guard eof.readableBytesView.first == 0xFE else { throw MySQLError.protocolViolation("missing EOF after columns") }
            var rows: [[String?]] = []
            while true {
                var packet = try await self.readPacket()
                if packet.readableBytesView.first == 0xFE && packet.readableBytes < 9 { break }
                if packet.readableBytesView.first == 0xFF { throw MySQLWire.error(from: packet) }
                var row: [String?] = []
                row.reserveCapacity(columns.count)
                for _ in 0..<columns.count { row.append(try MySQLWire.readLengthEncodedString(&packet)) }
                rows.append(row)
            }
            return MySQLResultSet(columns: columns, rows: rows)
        }
    }
}

/// Whether a statement's deadline fired; set on the event loop, read by the caller.
final class ExpiryFlag: Sendable {
    private let state = Mutex(false)
    func fire() { self.state.withLock { $0 = true } }
    var hasFired: Bool { self.state.withLock { $0 } }
}

/// The inbound stream and outbound writer of a channel owned by an object rather than a scope; the
/// connection closes the channel itself (`close()`, `deinit`).
protocol LongLivedChannel<Inbound, Outbound> {
    associatedtype Inbound: Sendable
    associatedtype Outbound: Sendable
    var inbound: NIOAsyncChannelInboundStream<Inbound> { get }
    var outbound: NIOAsyncChannelOutboundWriter<Outbound> { get }
}

extension NIOAsyncChannel: LongLivedChannel {}

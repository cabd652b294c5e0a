import Crypto
import NIOCore

/// Encoding and decoding of the client/server protocol's primitive types (length-encoded integers and
/// strings, NUL-terminated strings) and of the `mysql_native_password` scramble.
package enum MySQLWire {
    /// Capability flags Coffer announces: 4.1 protocol, secure connection, plugin auth, transactions.
    static let clientCapabilities: UInt32 =
        0x0000_0001  // CLIENT_LONG_PASSWORD
        | 0x0000_0200  // CLIENT_PROTOCOL_41
        | 0x0000_2000  // CLIENT_TRANSACTIONS
        | 0x0000_8000  // CLIENT_SECURE_CONNECTION
        | 0x0002_0000  // CLIENT_MULTI_RESULTS
        | 0x0008_0000  // CLIENT_PLUGIN_AUTH

    /// `SHA1(password) XOR SHA1(scramble ‖ SHA1(SHA1(password)))`; empty for an empty password.
    ///
    /// SHA-1 is what the protocol fixes, not a choice: swift-crypto keeps it under `Insecure` for exactly
    /// such older protocols.
    package static func nativePasswordResponse(password: String, scramble: [UInt8]) -> [UInt8] {
        guard !password.isEmpty else { return [] }
        let stage1 = Array(Insecure.SHA1.hash(data: Array(password.utf8)))
        let stage2 = Array(Insecure.SHA1.hash(data: stage1))
        let mix = Array(Insecure.SHA1.hash(data: Array(scramble.prefix(20)) + stage2))
        return zip(stage1, mix).map { $0 ^ $1 }
    }

    static func readLengthEncodedInteger(_ buffer: inout ByteBuffer) throws -> UInt64? {
        guard let first = buffer.readInteger(as: UInt8.self) else { throw MySQLError.protocolViolation("truncated integer") }
        switch first {
        case 0xFB: return nil
        case 0xFC:
            guard let v = buffer.readInteger(endianness: .little, as: UInt16.self) else { throw MySQLError.protocolViolation("truncated integer") }
            return UInt64(v)
        case 0xFD:
            guard let bytes = buffer.readBytes(length: 3) else { throw MySQLError.protocolViolation("truncated integer") }
            return UInt64(bytes[0]) | UInt64(bytes[1]) << 8 | UInt64(bytes[2]) << 16
        case 0xFE:
            guard let v = buffer.readInteger(endianness: .little, as: UInt64.self) else { throw MySQLError.protocolViolation("truncated integer") }
            return v
        default: return UInt64(first)
        }
    }

    static func readLengthEncodedString(_ buffer: inout ByteBuffer) throws -> String? {
        guard let length = try Self.readLengthEncodedInteger(&buffer) else { return nil }
        guard let text = buffer.readString(length: Int(length)) else { throw MySQLError.protocolViolation("truncated string") }
        return text
    }

    static func readNullTerminated(_ buffer: inout ByteBuffer) -> [UInt8]? {
        guard let end = buffer.readableBytesView.firstIndex(of: 0) else { return nil }
        let bytes = buffer.readBytes(length: end - buffer.readerIndex)
        buffer.moveReaderIndex(forwardBy: 1)
        return bytes
    }

    /// An `ERR` packet's payload (after the 0xFF marker has been checked) as an error.
    static func error(from payload: ByteBuffer) -> MySQLError {
        var payload = payload
        payload.moveReaderIndex(forwardBy: 1)
        let code = Int(payload.readInteger(endianness: .little, as: UInt16.self) ?? 0)
        var state = "HY000"
        if payload.readableBytesView.first == UInt8(ascii: "#") {
            payload.moveReaderIndex(forwardBy: 1)
            state = payload.readString(length: 5) ?? state
        }
        let message = payload.readString(length: payload.readableBytes) ?? ""
        return .server(code: code, sqlState: state, message: message)
    }
}

import CofferCore
import NIOCore
import Synchronization

/// Positional reads of an S3 object through ranged `GET`s of `window` bytes, one window read ahead.
///
/// Readers read sequentially in small steps (256 KiB for a download, 1 MiB for a restore): a `GET` per step
/// would pay a round trip each, one long `GET` would hold a connection for the whole download and leave the
/// reader unable to jump. So each miss fetches the window that starts at the offset asked for, and the
/// window after it is fetched while the current one is consumed: memory is at most two windows, sequential
/// reads wait only when S3 is slower than the consumer, and any offset can be read.
final class S3BlobReader: BlobReader {
    let size: Int64
    private let key: String
    private let client: S3Client
    private let window: Int64

    private struct Fetch {
        var start: Int64
        var task: Task<ByteBuffer, any Error>
        var end: Int64
    }

    private struct State {
        var current: (start: Int64, bytes: ByteBuffer)?
        var ahead: Fetch?
        var closed = false
    }

    private let state = Mutex(State())

    init(client: S3Client, key: String, size: Int64, window: Int) {
        self.client = client
        self.key = key
        self.size = size
        self.window = Int64(window)
    }

    func read(at offset: Int64, upTo count: Int) async throws -> ByteBuffer {
        guard count > 0, offset >= 0, offset < self.size else { return ByteBuffer() }
        if let hit = try self.cached(offset, count) { return hit }
        // The read-ahead covers it: wait for that one; otherwise fetch the window starting here.
        let pending = self.state.withLock { state -> Fetch? in
            guard let ahead = state.ahead, ahead.start <= offset, offset < ahead.end else { return nil }
            state.ahead = nil
            return ahead
        }
        let start = pending?.start ?? offset
        let bytes: ByteBuffer
        if let pending {
            bytes = try await pending.task.value
        } else {
            let end = min(self.size, offset + max(self.window, Int64(count)))
            bytes = try await self.client.get(key: self.key, range: offset...(end - 1))
        }
        let next = start + Int64(bytes.readableBytes)
        self.state.withLock { state in
            guard !state.closed else { return }
            state.current = (start, bytes)
            if next < self.size, state.ahead?.start != next {
                state.ahead?.task.cancel()
                let end = min(self.size, next + self.window)
                let (client, key) = (self.client, self.key)
                state.ahead = Fetch(start: next, task: Task { try await client.get(key: key, range: next...(end - 1)) }, end: end)
            }
        }
        return try self.cached(offset, count) ?? ByteBuffer()
    }

    /// The bytes at `offset` from the current window, if it holds them.
    private func cached(_ offset: Int64, _ count: Int) throws -> ByteBuffer? {
        try self.state.withLock { state in
            guard !state.closed else { throw S3Error.closed }
            guard let current = state.current, current.start <= offset, offset < current.start + Int64(current.bytes.readableBytes) else { return nil }
            let from = Int(offset - current.start)
            let length = min(count, current.bytes.readableBytes - from)
            return current.bytes.getSlice(at: current.bytes.readerIndex + from, length: length)
        }
    }

    func close() {
        self.state.withLock { state in
            state.closed = true
            state.current = nil
            state.ahead?.task.cancel()
            state.ahead = nil
        }
    }

    deinit { self.close() }
}

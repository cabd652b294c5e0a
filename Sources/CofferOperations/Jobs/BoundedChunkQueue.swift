import NIOCore
import Synchronization

/// The tee between an AOF backup's pull and its AOF writer: one producer (the replication pull, handing over
/// the RDB chunks it also writes to the sidecar) and one consumer (the RDB reader that feeds the AOF writer).
///
/// Bounded so memory stays flat whatever the dataset: at most `limit` bytes wait in the queue (one chunk more
/// when a single chunk is larger than the limit). When the AOF side falls that far behind, ``send(_:)`` waits,
/// which slows the pull to the AOF side's pace — the master's side of that is discussed in
/// `DCSBackupJob+AOF.swift`. The time the producer spent waiting is counted (``producerWait``) so a backup's
/// log line says whether the AOF side ever held the pull back.
///
/// Either side ends both: ``finish()`` after the last chunk, ``fail(_:)`` on any error (the other side's next
/// call throws it), and cancelling a task parked in ``send(_:)`` or ``next()`` fails the queue with
/// `CancellationError`.
final class BoundedChunkQueue: Sendable {
    private struct State {
        var chunks = CircularBuffer<ByteBuffer>()
        var bytes = 0
        var peakBytes = 0
        var finished = false
        var failure: (any Error)?
        /// The producer parked with the chunk that did not fit yet.
        var producer: (continuation: CheckedContinuation<Bool, any Error>, chunk: ByteBuffer)?
        var consumer: CheckedContinuation<ByteBuffer?, any Error>?
        var producerWait: Duration = .zero

        mutating func append(_ chunk: ByteBuffer) {
            self.chunks.append(chunk)
            self.bytes += chunk.readableBytes
            self.peakBytes = max(self.peakBytes, self.bytes)
        }

        func fits(_ chunk: ByteBuffer, limit: Int) -> Bool {
            self.bytes == 0 || self.bytes + chunk.readableBytes <= limit
        }
    }

    /// Bytes the queue holds at most (plus one oversized chunk).
    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// The most bytes the queue ever held.
    var peakBytes: Int { self.state.withLock { $0.peakBytes } }

    /// How long the producer waited, in total, for the consumer to make room.
    var producerWait: Duration { self.state.withLock { $0.producerWait } }

    /// Queues `chunk`, waiting while the queue is full.
    /// - Throws: the failure the queue ended with (the consumer's error, or `CancellationError`).
    func send(_ chunk: ByteBuffer) async throws {
        guard chunk.readableBytes > 0 else { return }
        let started = ContinuousClock.now
        let waited = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Bool, any Error>) in
                enum Action {
                    case fail(any Error)
                    case accepted(CheckedContinuation<ByteBuffer?, any Error>?, ByteBuffer?)
                    case parked
                }
                let action: Action = self.state.withLock { state in
                    if let failure = state.failure { return .fail(failure) }
                    precondition(!state.finished && state.producer == nil, "one producer, nothing sent after finish()")
                    guard state.fits(chunk, limit: self.limit) else {
                        state.producer = (continuation, chunk)
                        return .parked
                    }
                    state.append(chunk)
                    guard let consumer = state.consumer else { return .accepted(nil, nil) }
                    state.consumer = nil
                    let first = state.chunks.removeFirst()
                    state.bytes -= first.readableBytes
                    return .accepted(consumer, first)
                }
                switch action {
                case .fail(let error): continuation.resume(throwing: error)
                case .accepted(let consumer, let first):
                    consumer?.resume(returning: first)
                    continuation.resume(returning: false)
                case .parked: break
                }
            }
        } onCancel: {
            self.fail(CancellationError())
        }
        if waited {
            let elapsed = ContinuousClock.now - started
            self.state.withLock { $0.producerWait += elapsed }
        }
    }

    /// Says that no chunk follows: the consumer's ``next()`` returns nil once the queue is empty.
    func finish() {
        let consumer: CheckedContinuation<ByteBuffer?, any Error>? = self.state.withLock { state in
            guard state.failure == nil else { return nil }
            state.finished = true
            guard state.chunks.isEmpty, let consumer = state.consumer else { return nil }
            state.consumer = nil
            return consumer
        }
        consumer?.resume(returning: nil)
    }

    /// Ends the queue with `error` (the first failure wins): both sides' waiting and later calls throw it.
    func fail(_ error: any Error) {
        let (producer, consumer) = self.state.withLock { state -> (CheckedContinuation<Bool, any Error>?, CheckedContinuation<ByteBuffer?, any Error>?) in
            guard state.failure == nil else { return (nil, nil) }
            state.failure = error
            state.chunks.removeAll()
            state.bytes = 0
            let waiting = (state.producer?.continuation, state.consumer)
            state.producer = nil
            state.consumer = nil
            return waiting
        }
        producer?.resume(throwing: error)
        consumer?.resume(throwing: error)
    }

    /// The next chunk in order; nil after ``finish()`` once every chunk was taken.
    /// - Throws: the failure the queue ended with (the producer's error, or `CancellationError`).
    func next() async throws -> ByteBuffer? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer?, any Error>) in
                enum Action {
                    case fail(any Error)
                    case chunk(ByteBuffer?, CheckedContinuation<Bool, any Error>?)
                    case parked
                }
                let action: Action = self.state.withLock { state in
                    if let failure = state.failure { return .fail(failure) }
                    guard !state.chunks.isEmpty else {
                        if state.finished { return .chunk(nil, nil) }
                        precondition(state.consumer == nil, "one consumer")
                        state.consumer = continuation
                        return .parked
                    }
                    let first = state.chunks.removeFirst()
                    state.bytes -= first.readableBytes
                    guard let producer = state.producer, state.fits(producer.chunk, limit: self.limit) else { return .chunk(first, nil) }
                    state.producer = nil
                    state.append(producer.chunk)
                    return .chunk(first, producer.continuation)
                }
                switch action {
                case .fail(let error): continuation.resume(throwing: error)
                case .chunk(let chunk, let producer):
                    producer?.resume(returning: true)
                    continuation.resume(returning: chunk)
                case .parked: break
                }
            }
        } onCancel: {
            self.fail(CancellationError())
        }
    }
}

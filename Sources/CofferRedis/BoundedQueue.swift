import NIOCore
import Synchronization

/// A queue between one producer and one consumer that never holds more than `limit` bytes (one element more when a
/// single element is larger than the limit), so memory stays flat whatever the dataset: ``send(_:)`` waits while it
/// is full. Used for the tee between an AOF backup's pull and its AOF writer (chunks of the RDB), and between a
/// cluster restore's router and each node's writer (batches of records).
///
/// The time the producer spent waiting is counted (``producerWait``), so a log line can say whether the consumer
/// ever held the producer back.
///
/// Either side ends both: ``finish()`` after the last chunk, ``fail(_:)`` on any error (the other side's next
/// call throws it), and cancelling a task parked in ``send(_:)`` or ``next()`` fails the queue with
/// `CancellationError`.
package final class BoundedQueue<Element: Sendable>: Sendable {
    private struct State {
        var chunks = CircularBuffer<Element>()
        var bytes = 0
        var peakBytes = 0
        var finished = false
        var failure: (any Error)?
        /// The producer parked with the chunk that did not fit yet.
        var producer: (continuation: CheckedContinuation<Bool, any Error>, chunk: Element, weight: Int)?
        var consumer: CheckedContinuation<Element?, any Error>?
        var producerWait: Duration = .zero

        mutating func append(_ chunk: Element, weight: Int) {
            self.chunks.append(chunk)
            self.bytes += weight
            self.peakBytes = max(self.peakBytes, self.bytes)
        }

        func fits(_ weight: Int, limit: Int) -> Bool {
            self.bytes == 0 || self.bytes + weight <= limit
        }
    }

    /// What `send` does once the lock is released.
    private enum SendAction {
        case fail(any Error)
        case accepted(CheckedContinuation<Element?, any Error>?, Element?)
        case parked
    }

    /// What `next` does once the lock is released.
    private enum NextAction {
        case fail(any Error)
        case chunk(Element?, CheckedContinuation<Bool, any Error>?)
        case parked
    }

    /// Bytes the queue holds at most (plus one oversized chunk).
    let limit: Int
    /// An element's size in bytes.
    private let weight: @Sendable (Element) -> Int
    private let state = Mutex(State())

    package init(limit: Int, weight: @escaping @Sendable (Element) -> Int) {
        self.limit = max(1, limit)
        self.weight = weight
    }

    /// The most bytes the queue ever held.
    package var peakBytes: Int { self.state.withLock { $0.peakBytes } }

    /// How long the producer waited, in total, for the consumer to make room.
    package var producerWait: Duration { self.state.withLock { $0.producerWait } }

    /// Queues `chunk`, waiting while the queue is full.
    /// - Throws: the failure the queue ended with (the consumer's error, or `CancellationError`).
    package func send(_ chunk: Element) async throws {
        let weight = self.weight(chunk)
        let started = ContinuousClock.now
        let waited = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Bool, any Error>) in
                let action: SendAction = self.state.withLock { state in
                    if let failure = state.failure { return .fail(failure) }
                    precondition(!state.finished && state.producer == nil, "one producer, nothing sent after finish()")
                    guard state.fits(weight, limit: self.limit) else {
                        state.producer = (continuation, chunk, weight)
                        return .parked
                    }
                    state.append(chunk, weight: weight)
                    guard let consumer = state.consumer else { return .accepted(nil, nil) }
                    state.consumer = nil
                    let first = state.chunks.removeFirst()
                    state.bytes -= self.weight(first)
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
    package func finish() {
        let consumer: CheckedContinuation<Element?, any Error>? = self.state.withLock { state in
            guard state.failure == nil else { return nil }
            state.finished = true
            guard state.chunks.isEmpty, let consumer = state.consumer else { return nil }
            state.consumer = nil
            return consumer
        }
        consumer?.resume(returning: nil)
    }

    /// Ends the queue with `error` (the first failure wins): both sides' waiting and later calls throw it.
    package func fail(_ error: any Error) {
        let (producer, consumer) = self.state.withLock { state -> (CheckedContinuation<Bool, any Error>?, CheckedContinuation<Element?, any Error>?) in
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
    package func next() async throws -> Element? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Element?, any Error>) in
                let action: NextAction = self.state.withLock { state in
                    if let failure = state.failure { return .fail(failure) }
                    guard !state.chunks.isEmpty else {
                        if state.finished { return .chunk(nil, nil) }
                        precondition(state.consumer == nil, "one consumer")
                        state.consumer = continuation
                        return .parked
                    }
                    let first = state.chunks.removeFirst()
                    state.bytes -= self.weight(first)
                    guard let producer = state.producer, state.fits(producer.weight, limit: self.limit) else { return .chunk(first, nil) }
                    state.producer = nil
                    state.append(producer.chunk, weight: producer.weight)
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

import CofferCore
import Crypto
import NIOCore

/// A blob streamed into S3 as a multipart upload, hashed as it goes.
///
/// Memory stays flat whatever the blob's size: one part filling, and at most `maxPartsInFlight` parts being
/// uploaded; `write` waits for the oldest upload when that many are out, so a slow S3 slows the producer.
/// The upload is created with the first full part; a blob smaller than one part goes as a single `PUT` at
/// `commit()`. Either way the object appears whole or not at all (Complete / PUT are atomic).
/// A part that fails is kept as the writer's failure and thrown by the next `write` or by `commit()`.
actor S3BlobWriter: BlobWriter {
    /// S3's limit on parts per upload.
    static let maxParts = 10_000
    /// Parts uploading at once per writer.
    static let maxPartsInFlight = 2

    private enum Phase { case open, committing, committed, aborted }

    private let client: S3Client
    private let key: String
    private let basePartSize: Int
    private let live: LiveUploads
    private var phase = Phase.open
    private var filling: ByteBuffer
    private var hasher = SHA256()
    private var size: Int64 = 0
    private var uploadID: String?
    private var nextPart = 1
    private var inFlight: [(number: Int, task: Task<String, any Error>)] = []
    private var uploaded: [(number: Int, etag: String)] = []
    private var failure: (any Error)?

    init(client: S3Client, key: String, basePartSize: Int, live: LiveUploads) {
        self.client = client
        self.key = key
        self.basePartSize = basePartSize
        self.live = live
        self.filling = ByteBuffer()
    }

    /// The size of part `number` (1-based): `base` doubled every 1,000 parts. Parts stay 8 MiB (memory
    /// 3 × 8 MiB) up to 7.8 GiB, and 10,000 parts hold 1,023,000 × base (7.8 TiB at 8 MiB, above S3's 5 TiB
    /// object limit) with the last group's parts at 512 × base = 4 GiB, within S3's 5 GiB part limit.
    static func partSize(number: Int, base: Int) -> Int {
        base << min((number - 1) / 1_000, 9)
    }

    func write(_ bytes: ByteBuffer) async throws {
        guard self.phase == .open else { throw S3Error.finished }
        if let failure = self.failure { throw failure }
        var bytes = bytes
        bytes.withUnsafeReadableBytes { self.hasher.update(bufferPointer: $0) }
        self.size += Int64(bytes.readableBytes)
        while bytes.readableBytes > 0 {
            let target = Self.partSize(number: self.nextPart, base: self.basePartSize)
            if self.filling.capacity < target { self.filling.reserveCapacity(target) }
            var slice = bytes.readSlice(length: min(target - self.filling.readableBytes, bytes.readableBytes)) ?? ByteBuffer()
            self.filling.writeBuffer(&slice)
            if self.filling.readableBytes == target { try await self.ship() }
        }
    }

    func commit() async throws -> BlobInfo {
        guard self.phase == .open else { throw S3Error.finished }
        if let failure = self.failure { throw failure }
        self.phase = .committing
        do {
            if let uploadID = self.uploadID {
                if self.filling.readableBytes > 0 { try await self.ship() }
                while !self.inFlight.isEmpty { try await self.finishOldest() }
                try await self.client.completeMultipartUpload(key: self.key, uploadID: uploadID, parts: self.uploaded.sorted { $0.number < $1.number })
                self.live.remove(uploadID)
            } else {
                try await self.client.put(key: self.key, body: self.filling)
            }
        } catch {
            self.failure = error
            self.phase = .open
            throw error
        }
        self.phase = .committed
        self.filling = ByteBuffer()
        return BlobInfo(key: self.key, size: self.size, sha256: Hex.encode(self.hasher.finalize()))
    }

    func abort() async {
        guard self.phase != .committed, self.phase != .aborted else { return }
        self.phase = .aborted
        self.filling = ByteBuffer()
        for part in self.inFlight { part.task.cancel() }
        for part in self.inFlight { _ = try? await part.task.value }
        self.inFlight = []
        if let uploadID = self.uploadID {
            // Failing here leaves the upload to the sweep, which aborts it later.
            try? await self.client.abortMultipartUpload(key: self.key, uploadID: uploadID)
            self.live.remove(uploadID)
        }
    }

    /// Uploads the filled part in the background, after waiting for room.
    private func ship() async throws {
        let part = self.filling
        self.filling = ByteBuffer()
        let number = self.nextPart
        guard number <= Self.maxParts else {
            let error = S3Error.tooManyParts(key: self.key)
            self.failure = error
            throw error
        }
        self.nextPart += 1
        let uploadID: String
        if let existing = self.uploadID {
            uploadID = existing
        } else {
            do {
                uploadID = try await self.client.createMultipartUpload(key: self.key)
            } catch {
                self.failure = error
                throw error
            }
            self.uploadID = uploadID
            self.live.insert(uploadID)
        }
        while self.inFlight.count >= Self.maxPartsInFlight { try await self.finishOldest() }
        let (client, key) = (self.client, self.key)
        self.inFlight.append((number, Task { try await client.uploadPart(key: key, uploadID: uploadID, number: number, body: part) }))
    }

    private func finishOldest() async throws {
        let part = self.inFlight.removeFirst()
        do {
            self.uploaded.append((part.number, try await part.task.value))
        } catch {
            self.failure = error
            throw error
        }
    }

    deinit {
        // Dropped without commit() or abort(): abort the upload rather than wait for the sweep.
        guard self.phase != .committed, self.phase != .aborted, let uploadID = self.uploadID else { return }
        let (client, key, live) = (self.client, self.key, self.live)
        for part in self.inFlight { part.task.cancel() }
        Task {
            try? await client.abortMultipartUpload(key: key, uploadID: uploadID)
            live.remove(uploadID)
        }
    }
}

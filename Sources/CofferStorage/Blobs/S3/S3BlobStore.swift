import CofferCore
import Foundation
import NIOCore

/// `BlobStore` on an S3-compatible bucket (AWS S3, Huawei OBS, SeaweedFS): backups of several Coffer nodes
/// in one place, so any node can serve a download, restore from or delete any backup.
///
/// Writers are multipart uploads (`S3BlobWriter`), readers ranged `GET`s (`S3BlobReader`). An upload left by
/// a crashed writer stays invisible (S3 shows objects only when completed) but costs storage until aborted:
/// OBS never expires them, so `sweepAbandonedWrites` lists and aborts them.
package final class S3BlobStore: BlobStore {
    /// S3's minimum size of a non-last part, and the default first part size (parts grow, see `S3BlobWriter`).
    package static let minimumPartSize = 5 << 20
    package static let defaultPartSize = 8 << 20
    /// Ranged read window (two per reader at most).
    package static let defaultReadWindow = 4 << 20
    /// The sweep aborts an upload only when it is older than this, whatever the caller's `age`: S3 cannot say
    /// whether another node still fills it (a backup may run for hours), unlike the file store's locks.
    package static let defaultAbandonedUploadAge: TimeInterval = 24 * 3600

    package let client: S3Client
    let partSize: Int
    let readWindow: Int
    let abandonedUploadAge: TimeInterval
    let live = LiveUploads()

    /// - Parameters:
    ///   - partSize: the first parts' size; tests pass `minimumPartSize` to get several parts from little data.
    ///   - abandonedUploadAge: the sweep's minimum age of an upload (tests pass 0).
    package init(
        client: S3Client, partSize: Int = S3BlobStore.defaultPartSize, readWindow: Int = S3BlobStore.defaultReadWindow,
        abandonedUploadAge: TimeInterval = S3BlobStore.defaultAbandonedUploadAge
    ) {
        self.client = client
        self.partSize = max(partSize, 1)
        self.readWindow = max(readWindow, 1)
        self.abandonedUploadAge = abandonedUploadAge
    }

    static func check(_ key: String) throws {
        // Keys are ours (ids and fixed names); keep them to what every S3 clone stores and signs alike.
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-/")
        guard !key.isEmpty, !key.hasPrefix("/"), key.allSatisfy({ allowed.contains($0) }),
            !key.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0.isEmpty || $0 == "." || $0 == ".." })
        else { throw S3Error.invalidKey(key) }
    }

    package func makeWriter(key: String) async throws -> any BlobWriter {
        try Self.check(key)
        if try await self.client.head(key: key) != nil { throw S3Error.exists(key: key) }
        return S3BlobWriter(client: self.client, key: key, basePartSize: self.partSize, live: self.live)
    }

    package func open(key: String) async throws -> (any BlobReader)? {
        try Self.check(key)
        guard let size = try await self.client.head(key: key) else { return nil }
        return S3BlobReader(client: self.client, key: key, size: size, window: self.readWindow)
    }

    package func delete(key: String) async throws {
        try Self.check(key)
        try await self.client.delete(key: key)
    }

    package func exists(key: String) async -> Bool {
        guard (try? Self.check(key)) != nil else { return false }
        return (try? await self.client.head(key: key)) != nil
    }

    /// Aborts the multipart uploads started before `now - max(age, abandonedUploadAge)` that no writer of this
    /// process holds. An upload without a start time is left alone.
    package func sweepAbandonedWrites(olderThan age: TimeInterval, now: Date) async throws -> Int {
        let cutoff = now.addingTimeInterval(-max(age, self.abandonedUploadAge))
        var aborted = 0
        for upload in try await self.client.listMultipartUploads() {
            guard let initiated = upload.initiated, initiated < cutoff, !self.live.contains(upload.uploadID) else { continue }
            try await self.client.abortMultipartUpload(key: upload.key, uploadID: upload.uploadID)
            aborted += 1
        }
        return aborted
    }
}

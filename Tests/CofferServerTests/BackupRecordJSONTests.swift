import CofferCore
import Foundation
import Testing

@testable import CofferServer

/// The backup list body is written by hand (`BackupRecordListDTO.json`); these hold it byte-equal to what
/// `JSONEncoder` (the server's settings plus sorted keys) makes of the same DTO's `encode(to:)`.
@Suite("Backup list JSON bytes", .timeLimit(.minutes(1)))
struct BackupRecordJSONTests {
    static let reference: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }()

    static func record(
        name: String = "backup_20240506070809", remark: String? = nil, errorCode: String? = nil, period: String? = nil,
        executionAt: Date? = nil, progress: Int = 10_000, size: Int64 = 1234, flag: Bool = true, createdAt: Int64 = 1_715_000_000_123
    ) -> DCSBackupRecord {
        DCSBackupRecord(
            id: "0f4b2c52-8d4e-4a39-9b1e-0f4b2c528d4e", projectID: "0123456789abcdef0123456789abcdef",
            instanceID: "6c1a5f4e-3b2d-4c1a-8f9e-6c1a5f4e3b2d", name: name, backupType: .manual, backupFormat: .rdb, status: .succeed,
            progress: .init(hundredths: progress), size: size, remark: remark, errorCode: errorCode, period: period, isSupportRestore: flag,
            createdAt: WireTime.date(epochMilliseconds: createdAt), updatedAt: WireTime.date(epochMilliseconds: createdAt + 999),
            executionAt: executionAt, blobKey: nil, sha256: nil)
    }

    static func expectSameBytes(_ records: [DCSBackupRecord], total: Int, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let dto = BackupRecordListDTO(totalNum: total, records: records.map(BackupRecordDTO.init))
        let expected = try Self.reference.encode(dto)
        let actual = dto.json.bytes
        #expect(
            String(decoding: actual, as: UTF8.self) == String(decoding: expected, as: UTF8.self), sourceLocation: sourceLocation)
        #expect(actual == Array(expected), sourceLocation: sourceLocation)
    }

    @Test("every optional field present, and every one absent")
    func optionalFields() throws {
        let full = Self.record(
            remark: "nightly", errorCode: "dcs.08.0002", period: "02:00-03:00", executionAt: WireTime.date(epochMilliseconds: 1_715_000_100_000),
            progress: 4205, flag: false)
        let bare = Self.record()
        try Self.expectSameBytes([full], total: 1)
        try Self.expectSameBytes([bare], total: 1)
        try Self.expectSameBytes([full, bare, full], total: 731)
        // The bare record really has none of them, and the full one all of them.
        let bareText = String(decoding: BackupRecordListDTO(totalNum: 1, records: [.init(record: bare)]).json.bytes, as: UTF8.self)
        for key in ["remark", "error_code", "period", "execution_at"] { #expect(!bareText.contains("\"\(key)\"")) }
        let fullText = String(decoding: BackupRecordListDTO(totalNum: 1, records: [.init(record: full)]).json.bytes, as: UTF8.self)
        for key in ["remark", "error_code", "period", "execution_at"] { #expect(fullText.contains("\"\(key)\"")) }
    }

    @Test("an empty page")
    func emptyPage() throws {
        try Self.expectSameBytes([], total: 0)
        try Self.expectSameBytes([], total: 12_345_678)
    }

    @Test("escapes: quotes, backslashes, slashes and every control character")
    func escapes() throws {
        let controls = String(decoding: (0..<0x20).map { UInt8($0) } + [0x7F], as: UTF8.self)
        for remark in [controls, "say \"hi\" \\ there", "a/b//c", "tab\there\nnewline\r\u{8}\u{C}", "\\u0000 literal", "\"", "\\", ""] {
            try Self.expectSameBytes([Self.record(name: remark, remark: remark, period: remark)], total: 1)
        }
    }

    @Test("unicode: accents, CJK, emoji, joiners and line separators pass through as UTF-8")
    func unicode() throws {
        for text in ["Zürich café", "备份-日本語-한국어", "🙂👍🏽👨‍👩‍👧", "\u{2028}\u{2029}\u{FEFF}", "e\u{301}", "\u{10FFFF}"] {
            try Self.expectSameBytes([Self.record(name: text, remark: text)], total: 2)
        }
    }

    @Test("numbers and times at their edges")
    func edges() throws {
        for (progress, size, created) in [
            (0, Int64(0), Int64(0)), (1, Int64.max, Int64(1)), (9_999, Int64(-1), Int64(86_399_999)), (10_000, Int64.min, WireTime.maxEpochMilliseconds - 999),
            (5_007, Int64(1) << 40, Int64(951_782_400_000)),  // 2000-02-29
        ] {
            try Self.expectSameBytes([Self.record(progress: progress, size: size, createdAt: created)], total: Int(size % 1000))
        }
    }
}

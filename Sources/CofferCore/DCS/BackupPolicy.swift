import Foundation

/// A DCS backup policy as create/update bodies carry it (`instance_backup_policy`, reference 2.8).
package struct BackupPolicy: Sendable, Equatable, Codable {
    package var backupType: String
    package var saveDays: Int?
    package var periodicalBackupPlan: BackupPlan?

    enum CodingKeys: String, CodingKey {
        case backupType = "backup_type"
        case saveDays = "save_days"
        case periodicalBackupPlan = "periodical_backup_plan"
    }

    package init(backupType: String, saveDays: Int?, periodicalBackupPlan: BackupPlan?) {
        self.backupType = backupType
        self.saveDays = saveDays
        self.periodicalBackupPlan = periodicalBackupPlan
    }

    /// Validates every field with the DCS.4072–4076 codes. `save_days` and the plan are required for
    /// `auto` (the SDK's rule); for `manual` they are accepted when valid.
    package func validate() throws(CofferError) {
        guard self.backupType == "auto" || self.backupType == "manual" else { throw DCSError.invalidBackupType }
        if let days = self.saveDays, !(1...7).contains(days) { throw DCSError.invalidSaveDays }
        if self.backupType == "auto" {
            guard self.saveDays != nil else { throw DCSError.invalidSaveDays }
            guard self.periodicalBackupPlan != nil else { throw DCSError.invalidPeriodType }
        }
        try self.periodicalBackupPlan?.validate()
    }
}

/// The weekly schedule of an automatic backup policy.
package struct BackupPlan: Sendable, Equatable, Codable {
    package var timezoneOffset: String?
    package var backupAt: [Int]
    package var periodType: String
    package var beginAt: String

    enum CodingKeys: String, CodingKey {
        case timezoneOffset = "timezone_offset"
        case backupAt = "backup_at"
        case periodType = "period_type"
        case beginAt = "begin_at"
    }

    package init(timezoneOffset: String?, backupAt: [Int], periodType: String, beginAt: String) {
        self.timezoneOffset = timezoneOffset
        self.backupAt = backupAt
        self.periodType = periodType
        self.beginAt = beginAt
    }

    package func validate() throws(CofferError) {
        guard self.periodType == "weekly" else { throw DCSError.invalidPeriodType }
        guard !self.backupAt.isEmpty, self.backupAt.allSatisfy({ (1...7).contains($0) }), Set(self.backupAt).count == self.backupAt.count
        else { throw DCSError.invalidBackupAt }
        guard Self.beginHour(self.beginAt) != nil else { throw DCSError.invalidBeginAt }
    }

    /// The UTC hour a `begin_at` window starts, when it has the exact `"HH:00-HH+1:00"` form.
    package static func beginHour(_ window: String) -> Int? {
        let parts = window.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let start = Self.hour(parts[0]), let end = Self.hour(parts[1]), end == (start + 1) % 24 else { return nil }
        return start
    }

    /// `HH:00` with two ASCII digits (`Int("+1")` alone would let `+1:00` through).
    private static func hour(_ text: Substring) -> Int? {
        let bytes = Array(text.utf8)
        let digits = UInt8(ascii: "0")...UInt8(ascii: "9")
        guard bytes.count == 5, digits.contains(bytes[0]), digits.contains(bytes[1]), bytes[2] == UInt8(ascii: ":"),
            bytes[3] == UInt8(ascii: "0"), bytes[4] == UInt8(ascii: "0")
        else { return nil }
        let hour = Int(bytes[0] - UInt8(ascii: "0")) * 10 + Int(bytes[1] - UInt8(ascii: "0"))
        return (0...23).contains(hour) ? hour : nil
    }
}

/// A policy as stored and shown back (`instance_backup_policy` of show-instance wraps it with ids and times).
package struct StoredBackupPolicy: Sendable, Equatable, Codable {
    package var id: String
    package var policy: BackupPolicy
    package var createdAt: Date
    package var updatedAt: Date

    package init(id: String, policy: BackupPolicy, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.policy = policy
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

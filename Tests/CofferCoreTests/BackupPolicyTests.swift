import CofferCore
import Foundation
import Testing

/// `BackupPolicy.validate` rule by rule (reference 2.8): each field has its own DCS.407x code, all 400.
@Suite("DCS backup policy validation")
struct BackupPolicyTests {
    /// The plan of the reference example (2.8).
    static let examplePlan = BackupPlan(timezoneOffset: nil, backupAt: [1, 3, 5], periodType: "weekly", beginAt: "00:00-01:00")

    static func auto(saveDays: Int? = 3, plan: BackupPlan? = Self.examplePlan) -> BackupPolicy {
        BackupPolicy(backupType: "auto", saveDays: saveDays, periodicalBackupPlan: plan)
    }

    static func plan(backupAt: [Int] = [1, 3, 5], periodType: String = "weekly", beginAt: String = "00:00-01:00") -> BackupPlan {
        BackupPlan(timezoneOffset: "+0800", backupAt: backupAt, periodType: periodType, beginAt: beginAt)
    }

    /// The code `validate` throws, or nil when it accepts.
    static func code(_ policy: BackupPolicy) -> String? {
        do throws(CofferError) {
            try policy.validate()
            return nil
        } catch {
            #expect(error.status == 400)
            return error.code
        }
    }

    @Test("The reference example and its variants are accepted")
    func accepted() {
        #expect(Self.code(Self.auto()) == nil)
        #expect(Self.code(Self.auto(saveDays: 1)) == nil)
        #expect(Self.code(Self.auto(saveDays: 7)) == nil)
        #expect(Self.code(Self.auto(plan: Self.plan(backupAt: [1, 2, 3, 4, 5, 6, 7]))) == nil)
        #expect(Self.code(Self.auto(plan: Self.plan(backupAt: [7]))) == nil)
        #expect(Self.code(Self.auto(plan: Self.plan(beginAt: "23:00-00:00"))) == nil)
        #expect(Self.code(Self.auto(plan: Self.plan(beginAt: "09:00-10:00"))) == nil)
        // `manual` needs neither field (reference 2.9 item 8) but accepts them when valid.
        #expect(Self.code(BackupPolicy(backupType: "manual", saveDays: nil, periodicalBackupPlan: nil)) == nil)
        #expect(Self.code(BackupPolicy(backupType: "manual", saveDays: 2, periodicalBackupPlan: Self.examplePlan)) == nil)
    }

    @Test("backup_type other than auto or manual → DCS.4073", arguments: ["", "AUTO", "Manual", "periodic", "auto ", "manual\u{0}"])
    func backupType(value: String) {
        #expect(Self.code(BackupPolicy(backupType: value, saveDays: 3, periodicalBackupPlan: Self.examplePlan)) == "DCS.4073")
    }

    @Test("save_days outside 1–7, or missing for auto → DCS.4072", arguments: [0, -1, 8, 30, Int.max, Int.min])
    func saveDays(value: Int) {
        #expect(Self.code(Self.auto(saveDays: value)) == "DCS.4072")
        #expect(Self.code(BackupPolicy(backupType: "manual", saveDays: value, periodicalBackupPlan: nil)) == "DCS.4072")
    }

    @Test("save_days is required for auto → DCS.4072")
    func saveDaysMissing() {
        #expect(Self.code(Self.auto(saveDays: nil)) == "DCS.4072")
    }

    @Test("A missing plan for auto, or a period other than weekly → DCS.4074", arguments: ["", "daily", "Weekly", "monthly"])
    func periodType(value: String) {
        #expect(Self.code(Self.auto(plan: nil)) == "DCS.4074")
        #expect(Self.code(Self.auto(plan: Self.plan(periodType: value))) == "DCS.4074")
        #expect(Self.code(BackupPolicy(backupType: "manual", saveDays: nil, periodicalBackupPlan: Self.plan(periodType: value))) == "DCS.4074")
    }

    @Test("backup_at empty, outside 1–7 or repeated → DCS.4075", arguments: [[], [0], [8], [1, 8], [-1], [1, 1], [3, 5, 3], [Int.max]])
    func backupAt(value: [Int]) {
        #expect(Self.code(Self.auto(plan: Self.plan(backupAt: value))) == "DCS.4075")
    }

    @Test(
        "begin_at not an exact one-hour window on the hour → DCS.4076",
        arguments: [
            "", "00:00", "00:00-02:00", "01:00-00:00", "00:30-01:30", "0:00-1:00", "24:00-01:00", "23:00-24:00", "00:00-01:00-02:00",
            "00:00 - 01:00", "00:00-01:00 ", "+1:00-02:00", "aa:00-bb:00", "00:00–01:00", "-1:00-00:00", "00:00:00-01:00:00",
        ])
    func beginAt(value: String) {
        #expect(Self.code(Self.auto(plan: Self.plan(beginAt: value))) == "DCS.4076")
        #expect(BackupPlan.beginHour(value) == nil)
    }

    @Test("beginHour reads the starting UTC hour of every valid window")
    func beginHour() {
        for hour in 0..<24 {
            let window = String(format: "%02d:00-%02d:00", hour, (hour + 1) % 24)
            #expect(BackupPlan.beginHour(window) == hour, "\(window)")
        }
    }

    @Test("The first broken rule decides the code: type, then days, then the plan's period, days and window")
    func order() {
        let broken = Self.plan(backupAt: [], periodType: "daily", beginAt: "x")
        #expect(Self.code(BackupPolicy(backupType: "x", saveDays: 0, periodicalBackupPlan: broken)) == "DCS.4073")
        #expect(Self.code(Self.auto(saveDays: 0, plan: broken)) == "DCS.4072")
        #expect(Self.code(Self.auto(plan: broken)) == "DCS.4074")
        #expect(Self.code(Self.auto(plan: Self.plan(backupAt: [], beginAt: "x"))) == "DCS.4075")
    }

    @Test("Every code carries the reference's message")
    func messages() {
        #expect(DCSError.invalidSaveDays == CofferError(status: 400, code: "DCS.4072", message: "Invalid saveDays instance backup policy parameter in the request."))
        #expect(DCSError.invalidBackupType.message == "Invalid backupType instance backup policy parameter in the request.")
        #expect(DCSError.invalidPeriodType.message == "Invalid periodType instance backup policy parameter in the request.")
        #expect(DCSError.invalidBackupAt.message == "Invalid backupAt instance backup policy parameter in the request.")
        #expect(DCSError.invalidBeginAt.message == "Invalid beginAt instance backup policy parameter in the request.")
    }

    @Test("The policy decodes from and encodes to the SDK's snake_case body")
    func coding() throws {
        let body = #"{"backup_type": "auto", "save_days": 3, "periodical_backup_plan": {"backup_at": [1, 3, 5], "period_type": "weekly", "begin_at": "00:00-01:00"}}"#
        let policy = try JSONDecoder().decode(BackupPolicy.self, from: Data(body.utf8))
        #expect(policy == Self.auto())
        let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(Self.auto(plan: Self.plan(backupAt: [2])))) as? [String: Any]
        #expect(encoded?["backup_type"] as? String == "auto")
        #expect(encoded?["save_days"] as? Int == 3)
        let plan = encoded?["periodical_backup_plan"] as? [String: Any]
        #expect(plan?["backup_at"] as? [Int] == [2])
        #expect(plan?["begin_at"] as? String == "00:00-01:00")
        #expect(plan?["period_type"] as? String == "weekly")
        #expect(plan?["timezone_offset"] as? String == "+0800")
        // The SDK's update doc example sends strings; they are a decoding error, not a silently empty policy.
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(BackupPolicy.self, from: Data(#"{"backup_type": "auto", "save_days": "1,"}"#.utf8))
        }
    }
}

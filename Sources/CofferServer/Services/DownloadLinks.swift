import CofferCore
import Crypto
import Foundation

/// Presigned download URLs on Coffer itself, like OBS presigned URLs: the URL carries its expiry and an
/// HMAC over (project, instance, backup, file name, expiry) under a server key, so no other credential
/// is needed and nothing in it can be changed.
struct DownloadLinks: Sendable {
    static let routeTemplate = "/downloads/dcs/{project_id}/{instance_id}/{backup_id}/{file_name}"

    let key: SymmetricKey

    /// Huawei's pattern: `redis_<ip>_<port>_<yyyyMMddHHmmss>.rdb` (`.aof` for an AOF backup; the creation time, UTC).
    static func fileName(record: DCSBackupRecord, instance: DCSInstance) -> String {
        // The extension names what the link serves: an AOF backup's link serves its AOF file, not the RDB sidecar.
        "redis_\(instance.host)_\(instance.port)_\(WireTime.compact(record.createdAt)).\(record.backupFormat.rawValue)"
    }

    func url(baseURL: String, record: DCSBackupRecord, fileName: String, expires: Int64) -> String {
        let signature = self.signature(
            projectID: record.projectID, instanceID: record.instanceID, backupID: record.id, fileName: fileName, expires: expires)
        let path = "/downloads/dcs/\(record.projectID)/\(record.instanceID)/\(record.id)/" + Self.encode(fileName)
        return baseURL + path + "?Expires=\(expires)&Signature=\(signature)"
    }

    func verify(projectID: String, instanceID: String, backupID: String, fileName: String, expires: Int64, signature: String) -> Bool {
        let expected = self.signature(projectID: projectID, instanceID: instanceID, backupID: backupID, fileName: fileName, expires: expires)
        return ConstantTime.equals(expected, signature)
    }

    private func signature(projectID: String, instanceID: String, backupID: String, fileName: String, expires: Int64) -> String {
        let message = [projectID, instanceID, backupID, fileName, String(expires)].joined(separator: "\n")
        return Hex.encode(HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: self.key))
    }

    private static func encode(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? segment
    }
}

import Foundation

/// A DDM backup (id suffix `br09`): the instance's metadata plus one consistent dump per data node.
package struct DDMBackup: Sendable, Equatable {
    /// Backup statuses of reference 3.3.
    package enum Status: String, Sendable, Codable, CaseIterable {
        case creating, normal, createfail, deleted
    }

    /// One data node's dump file.
    package struct File: Sendable, Equatable, Codable {
        package var nodeID: String
        package var nodeName: String
        package var blobKey: String
        /// Compressed bytes.
        package var size: Int64
        package var sha256: String
        package var databases: [String]
        /// Binary log coordinates at the cut (for a later point-in-time replay).
        package var binlogFile: String
        package var binlogPosition: UInt64
        package var gtidPosition: String

        package init(
            nodeID: String, nodeName: String, blobKey: String, size: Int64, sha256: String, databases: [String], binlogFile: String,
            binlogPosition: UInt64, gtidPosition: String
        ) {
            self.nodeID = nodeID
            self.nodeName = nodeName
            self.blobKey = blobKey
            self.size = size
            self.sha256 = sha256
            self.databases = databases
            self.binlogFile = binlogFile
            self.binlogPosition = binlogPosition
            self.gtidPosition = gtidPosition
        }
    }

    /// A data node the backup covers (`related_data_nodes`).
    package struct RelatedNode: Sendable, Equatable, Codable {
        package var id: String
        package var name: String

        package init(id: String, name: String) {
            self.id = id
            self.name = name
        }
    }

    package var id: String
    package var projectID: String
    package var instanceID: String
    package var instanceName: String
    package var name: String
    package var description: String
    /// `auto_metadata` (daily) | `metadata` (on request).
    package var backupType: String
    package var status: Status
    /// Total compressed bytes of the files plus the metadata.
    package var size: Int64
    package var relatedNodes: [RelatedNode]
    package var files: [File]
    /// Blob key of the metadata document (schemas, shard layout, node mapping, binlog positions).
    package var metadataKey: String?
    package var metadataSHA256: String?
    package var error: String?
    package var createdAt: Date
    package var updatedAt: Date
    /// The consistent point: an instant (to the millisecond) while the commit-blocking locks were held on every
    /// node, so every file is that node's committed state at it. Nil for a backup not (yet) made, or recorded
    /// before Coffer kept it; `cutInstant` then falls back to `createdAt`.
    package var cutAt: Date? = nil

    /// The instant restores and restorable windows compare times with.
    package var cutInstant: Date { self.cutAt ?? self.createdAt }

    package init(
        id: String, projectID: String, instanceID: String, instanceName: String, name: String, description: String, backupType: String,
        status: Status, size: Int64, relatedNodes: [RelatedNode], files: [File], metadataKey: String?, metadataSHA256: String?,
        error: String?, createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.projectID = projectID
        self.instanceID = instanceID
        self.instanceName = instanceName
        self.name = name
        self.description = description
        self.backupType = backupType
        self.status = status
        self.size = size
        self.relatedNodes = relatedNodes
        self.files = files
        self.metadataKey = metadataKey
        self.metadataSHA256 = metadataSHA256
        self.error = error
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// Filters of `GET /v3/{project_id}/backups`.
package struct DDMBackupQuery: Sendable, Equatable {
    package var projectID: String
    package var instanceID: String?
    package var instanceName: String?
    package var backupName: String?
    /// Backups whose consistent point (`cutInstant`) is at or before this instant only (related-dn, recovery), nil for all.
    package var createdBefore: Date?
    package var status: DDMBackup.Status?
    package var offset: Int
    package var limit: Int

    package init(
        projectID: String, instanceID: String? = nil, instanceName: String? = nil, backupName: String? = nil, createdBefore: Date? = nil,
        status: DDMBackup.Status? = nil, offset: Int = 0, limit: Int = 10
    ) {
        self.projectID = projectID
        self.instanceID = instanceID
        self.instanceName = instanceName
        self.backupName = backupName
        self.createdBefore = createdBefore
        self.status = status
        self.offset = offset
        self.limit = limit
    }
}

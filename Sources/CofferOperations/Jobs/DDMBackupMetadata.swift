import CofferCore
import Foundation

/// `metadata.json` of a DDM backup (format `coffer-ddm-backup-v1`): the schemas, their shard layout on the
/// data nodes, and each dump file with its size, SHA-256 and binlog coordinates at the cut. A restore reads
/// it to rebuild the schemas and replay binlogs from the right position.
struct DDMBackupMetadata: Codable, Equatable {
    struct Instance: Codable, Equatable {
        var id: String
        var name: String
    }

    struct Shard: Codable, Equatable {
        var dataNodeID: String
        var adminUser: String
        var databases: [String]

        enum CodingKeys: String, CodingKey {
            case databases
            case dataNodeID = "data_node_id"
            case adminUser = "admin_user"
        }
    }

    struct Schema: Codable, Equatable {
        var name: String
        var shardMode: String
        var shardNumber: Int
        var shards: [Shard]

        enum CodingKeys: String, CodingKey {
            case name, shards
            case shardMode = "shard_mode"
            case shardNumber = "shard_number"
        }
    }

    struct Node: Codable, Equatable {
        var id: String
        var name: String
        var privateIP: String
        var port: Int
        var engineName: String
        var engineVersion: String

        enum CodingKeys: String, CodingKey {
            case id, name, port
            case privateIP = "private_ip"
            case engineName = "engine_name"
            case engineVersion = "engine_version"
        }
    }

    struct File: Codable, Equatable {
        var dataNodeID: String
        var key: String
        /// Compressed bytes: an integer, never a floating-point number.
        var size: Int64
        var sha256: String
        var compression = "zstd"
        var databases: [String]
        var binlogFile: String
        var binlogPosition: UInt64
        var gtidBinlogPos: String

        enum CodingKeys: String, CodingKey {
            case key, size, sha256, compression, databases
            case dataNodeID = "data_node_id"
            case binlogFile = "binlog_file"
            case binlogPosition = "binlog_position"
            case gtidBinlogPos = "gtid_binlog_pos"
        }
    }

    var format = "coffer-ddm-backup-v1"
    var backupID: String
    var instance: Instance
    /// DDM time of the backup's creation.
    var created: String
    /// The consistent point, epoch milliseconds (nil in documents written before Coffer recorded it).
    var cutAt: Int64?
    var schemas: [Schema]
    var dataNodes: [Node]
    var files: [File]

    enum CodingKeys: String, CodingKey {
        case format, instance, created, schemas, files
        case backupID = "backup_id"
        case dataNodes = "data_nodes"
        case cutAt = "cut_at"
    }

    init(backup: DDMBackup, schemas: [DDMSchema], nodes: [DataNode], files: [DDMBackup.File]) {
        self.backupID = backup.id
        self.instance = Instance(id: backup.instanceID, name: backup.instanceName)
        self.created = WireTime.ddm(backup.createdAt)
        self.cutAt = backup.cutAt.map(WireTime.epochMilliseconds)
        self.schemas = schemas.map { schema in
            Schema(
                name: schema.name, shardMode: schema.shardMode, shardNumber: schema.shardNumber,
                shards: schema.parts.map { Shard(dataNodeID: $0.nodeID, adminUser: $0.adminUser, databases: $0.databases) })
        }
        self.dataNodes = nodes.map {
            Node(id: $0.id, name: $0.name, privateIP: $0.host, port: $0.port, engineName: $0.engineName, engineVersion: $0.engineVersion)
        }
        self.files = files.map {
            File(
                dataNodeID: $0.nodeID, key: $0.blobKey, size: $0.size, sha256: $0.sha256, databases: $0.databases, binlogFile: $0.binlogFile,
                binlogPosition: $0.binlogPosition, gtidBinlogPos: $0.gtidPosition)
        }
    }
}

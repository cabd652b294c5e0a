import NIOCore

/// One key's value decoded from its RDB encoding, in the form the commands that rebuild it need.
///
/// Element bytes are slices of the record's buffer where the encoding stores them verbatim, so a decoded
/// record costs little more memory than its raw bytes; integers packed by the compact encodings come back
/// as their decimal text, which is exactly the string Redis returns for them.
package enum RDBValue: Sendable, Equatable {
    case string(ByteBuffer)
    /// Elements head to tail.
    case list([ByteBuffer])
    case set([ByteBuffer])
    case sortedSet([RDBScoredMember])
    case hash([RDBHashField])
    case stream(RDBStream)
}

/// A sorted-set member and its score.
package struct RDBScoredMember: Sendable, Equatable {
    package var member: ByteBuffer
    package var score: Double

    package init(member: ByteBuffer, score: Double) {
        self.member = member
        self.score = score
    }
}

/// A hash field and its value.
package struct RDBHashField: Sendable, Equatable {
    package var field: ByteBuffer
    package var value: ByteBuffer

    package init(field: ByteBuffer, value: ByteBuffer) {
        self.field = field
        self.value = value
    }
}

/// A stream as the RDB stores it: live entries, the counters `XSETID` restores, and consumer groups with
/// their pending entries. Version 1 (type 15, Redis 5.0–6.2) lacks the counters added in 7.0, which are
/// then `nil`.
package struct RDBStream: Sendable, Equatable {
    /// A stream entry ID, `ms-seq`.
    package struct ID: Sendable, Equatable, Hashable, Comparable, CustomStringConvertible {
        package var milliseconds: UInt64
        package var sequence: UInt64

        package init(milliseconds: UInt64, sequence: UInt64) {
            self.milliseconds = milliseconds
            self.sequence = sequence
        }

        package static func < (lhs: ID, rhs: ID) -> Bool {
            (lhs.milliseconds, lhs.sequence) < (rhs.milliseconds, rhs.sequence)
        }

        package var description: String { "\(self.milliseconds)-\(self.sequence)" }
    }

    /// A live (not deleted) entry: its ID and its field/value pairs, in order.
    package struct Entry: Sendable, Equatable {
        package var id: ID
        /// Alternating field, value.
        package var fieldsAndValues: [ByteBuffer]
    }

    /// A group's pending entry: who owns it, when it was last delivered and how often.
    package struct PendingEntry: Sendable, Equatable {
        package var id: ID
        /// Unix time in ms.
        package var deliveryTime: Int64
        package var deliveryCount: UInt64
    }

    package struct Consumer: Sendable, Equatable {
        package var name: ByteBuffer
        /// Unix time in ms of the consumer's last interaction (not restorable by commands).
        package var seenTime: Int64
        /// Unix time in ms of the consumer's last successful read (version 3 only).
        package var activeTime: Int64?
        /// IDs of the group's pending entries this consumer owns.
        package var pending: [ID]
    }

    package struct Group: Sendable, Equatable {
        package var name: ByteBuffer
        package var lastDeliveredID: ID
        /// Entries read, or `nil` when the RDB is version 1 or the server did not know it (stored as 2^64-1).
        package var entriesRead: Int64?
        package var pending: [PendingEntry]
        package var consumers: [Consumer]
    }

    package var entries: [Entry]
    package var length: UInt64
    package var lastID: ID
    /// `nil` for version 1.
    package var firstID: ID?
    package var maxDeletedID: ID?
    package var entriesAdded: UInt64?
    package var groups: [Group]
}

import CofferCore
import CofferOperations
import Foundation
import Testing

/// The rules of `RestoreTargets` (reference 3.5b/c) and `RestorableWindows.restoringCut` (which backup a restore
/// at a time starts from, shared by related-dn and restorable-data-node).
@Suite("DDM restore targets (pure)", .timeLimit(.minutes(1)))
struct RestoreTargetsTests {
    static let base = Date(timeIntervalSince1970: 1_747_728_000)

    static func t(_ seconds: Double) -> Date { Self.base.addingTimeInterval(seconds) }

    static func instance(_ id: String, status: String = "RUNNING") -> DDMInstance {
        DDMInstance(
            id: id, projectID: "p", name: "n-\(id)", status: status, flavorID: "f", nodeNum: 1, engineID: "e", availableZones: ["az1"],
            vpcID: "v", subnetID: "s", securityGroupID: "g", timeZone: "UTC", adminUserName: nil, enterpriseProjectID: nil,
            createdAt: Self.base, updatedAt: Self.base)
    }

    static func node(_ id: String, engine: String = "mariadb") -> DataNode {
        DataNode(id: id, projectID: "p", name: "dn-\(id)", host: "127.0.0.1", port: 3306, engineName: engine, engineVersion: "10.11.6", createdAt: Self.base)
    }

    @Test("Instances: the source, a stopped one, a busy one and a schema-name clash are unavailable, each saying why")
    func instances() {
        func reason(_ candidate: DDMInstance, activity: Activity? = nil, schemas: Set<String> = []) -> String? {
            RestoreTargets.instanceUnavailableReason(
                candidate: candidate, sourceID: "src", activity: activity, sourceSchemas: ["orders", "users"], candidateSchemas: schemas)
        }
        #expect(reason(Self.instance("dst")) == nil)
        #expect(reason(Self.instance("dst"), schemas: ["other"]) == nil)
        #expect(reason(Self.instance("src")) == RestoreTargets.sourceInstanceReason)
        #expect(reason(Self.instance("dst", status: "DELETED")) == RestoreTargets.notRunningReason)
        for activity in Activity.allCases {
            #expect(reason(Self.instance("dst"), activity: activity) == RestoreTargets.busyReason, "\(activity)")
        }
        #expect(reason(Self.instance("dst"), schemas: ["users", "orders", "x"]) == "The target instance already has the schemas orders, users.")
        // The source answer wins over everything else: it is never a target, busy or not.
        #expect(reason(Self.instance("src"), activity: .backup, schemas: ["orders"]) == RestoreTargets.sourceInstanceReason)
    }

    @Test("Data nodes: gone, a source node, busy target, other engine and databases already held are unavailable")
    func dataNodes() {
        func reason(_ node: DataNode?, source: DataNode? = Self.node("s1"), held: Set<String> = [], busy: Bool = false) -> String? {
            RestoreTargets.dataNodeUnavailableReason(
                node: node, source: source, sourceNodeIDs: ["s1", "s2"], sourceDatabases: ["orders_0000", "orders_0002"], heldDatabases: held,
                targetBusy: busy)
        }
        #expect(reason(Self.node("t1")) == nil)
        #expect(reason(Self.node("t1"), held: ["orders_0001", "other_0000"]) == nil)
        #expect(reason(Self.node("t1", engine: "MariaDB")) == nil)
        #expect(reason(nil) == RestoreTargets.missingNodeReason)
        #expect(reason(Self.node("s2")) == RestoreTargets.sourceNodeReason)
        #expect(reason(Self.node("t1"), busy: true) == RestoreTargets.busyReason)
        #expect(reason(Self.node("t1", engine: "mysql")) == "The data node runs mysql, the source data node mariadb.")
        #expect(reason(Self.node("t1"), held: ["orders_0002", "orders_0000"]) == "The data node already holds the databases orders_0000, orders_0002.")
        // A source node no longer registered: the engine cannot be compared, the rest still applies.
        #expect(reason(Self.node("t1", engine: "mysql"), source: nil) == nil)
    }

    @Test("The restoring cut: the newest cut at or before the time whose own window reaches it; none outside every window")
    func restoringCut() {
        let segment = BinlogSegment(
            nodeID: "a", sequence: 1, file: "bin.000001", startPosition: 0, endPosition: 1000, blobKey: "k", size: 1, sha256: "",
            firstEventAt: Self.t(0), lastEventAt: Self.t(500), lastGTID: nil, closesFile: false, createdAt: Self.base)
        let archives = ["a": RestorableWindows.NodeArchive(segments: [segment], gaps: [])]
        let cuts = [
            RestorableWindows.Cut(at: Self.t(300), nodes: ["a": BinlogCursor(file: "bin.000001", position: 600), "c": BinlogCursor(file: "", position: 0)]),
            RestorableWindows.Cut(at: Self.t(100), nodes: ["a": BinlogCursor(file: "bin.000001", position: 200)]),
            RestorableWindows.Cut(at: Self.t(50), nodes: [:]),
        ]
        // Windows: [100, 500] from the second cut, [300, 300] from the first (node c has no archive).
        #expect(RestorableWindows.restoringCut(at: Self.t(99), cuts: cuts, archives: archives) == nil)
        #expect(RestorableWindows.restoringCut(at: Self.t(100), cuts: cuts, archives: archives) == 1)
        #expect(RestorableWindows.restoringCut(at: Self.t(299), cuts: cuts, archives: archives) == 1)
        #expect(RestorableWindows.restoringCut(at: Self.t(300), cuts: cuts, archives: archives) == 0)
        // After the first cut, only the older cut's window reaches: it serves the time.
        #expect(RestorableWindows.restoringCut(at: Self.t(301), cuts: cuts, archives: archives) == 1)
        #expect(RestorableWindows.restoringCut(at: Self.t(500), cuts: cuts, archives: archives) == 1)
        #expect(RestorableWindows.restoringCut(at: Self.t(501), cuts: cuts, archives: archives) == nil)
        #expect(RestorableWindows.cutWindows(cuts: cuts, archives: archives) == [
            DateInterval(start: Self.t(300), end: Self.t(300)), DateInterval(start: Self.t(100), end: Self.t(500)), nil,
        ])
    }
}

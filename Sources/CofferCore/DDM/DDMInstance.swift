import Foundation

/// A DDM instance (id suffix `in09`): the logical database front of schemas spread over data nodes.
package struct DDMInstance: Sendable, Equatable {
    package var id: String
    package var projectID: String
    package var name: String
    /// `RUNNING` once created (Coffer has no provisioning step).
    package var status: String
    package var flavorID: String
    package var nodeNum: Int
    package var engineID: String
    package var availableZones: [String]
    package var vpcID: String
    package var subnetID: String
    package var securityGroupID: String
    package var timeZone: String
    package var adminUserName: String?
    package var enterpriseProjectID: String?
    package var createdAt: Date
    package var updatedAt: Date

    package init(
        id: String, projectID: String, name: String, status: String, flavorID: String, nodeNum: Int, engineID: String,
        availableZones: [String], vpcID: String, subnetID: String, securityGroupID: String, timeZone: String, adminUserName: String?,
        enterpriseProjectID: String?, createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.projectID = projectID
        self.name = name
        self.status = status
        self.flavorID = flavorID
        self.nodeNum = nodeNum
        self.engineID = engineID
        self.availableZones = availableZones
        self.vpcID = vpcID
        self.subnetID = subnetID
        self.securityGroupID = securityGroupID
        self.timeZone = timeZone
        self.adminUserName = adminUserName
        self.enterpriseProjectID = enterpriseProjectID
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

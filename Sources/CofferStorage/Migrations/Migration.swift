import SQLKit

/// One schema step. Shipped migrations are never edited: a change is a new migration appended to `Migrations.all`.
package struct Migration: Sendable {
    package var id: String
    package var statements: [String]

    package init(id: String, _ statements: [String]) {
        self.id = id
        self.statements = statements
    }
}

import Foundation

/// A fresh directory under the system temporary directory, for one test's files.
///
/// Removal is explicit (``remove()``) rather than in `deinit`, so a failing test can keep its files for
/// inspection when the caller chooses to.
package struct TemporaryDirectory: Sendable {
    /// The directory.
    package let url: URL

    /// Creates a uniquely named directory.
    ///
    /// - Parameter prefix: Start of the directory name, to recognise leftovers.
    /// - Throws: File system errors from `FileManager`.
    package init(prefix: String = "coffer-test") throws {
        let name = "\(prefix)-\(UUID().uuidString.lowercased())"
        self.url = FileManager.default.temporaryDirectory.appendingPathComponent(name, isDirectory: true)
        try FileManager.default.createDirectory(at: self.url, withIntermediateDirectories: true)
    }

    /// The directory's file system path.
    package var path: String {
        self.url.path
    }

    /// A path inside the directory.
    ///
    /// - Parameter name: File name.
    /// - Returns: The file's URL (the file is not created).
    package func file(_ name: String) -> URL {
        self.url.appendingPathComponent(name, isDirectory: false)
    }

    /// Deletes the directory and everything in it; does nothing if it is already gone.
    package func remove() {
        try? FileManager.default.removeItem(at: self.url)
    }
}

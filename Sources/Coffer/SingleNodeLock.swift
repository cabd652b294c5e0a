import Foundation

/// SQLite is the single-node database: a second `coffer serve` on the same SQLite file would run every scheduler
/// and recovery twice and judge leases by two clocks. The first `serve` takes an exclusive `flock` on
/// `<database>.serve.lock` and keeps it for its life (the kernel drops it when the process dies, even by SIGKILL);
/// a second one refuses to start. Admin commands do not take it: they may run beside the server.
enum SingleNodeLock {
    /// Takes the lock for the SQLite database `databaseURL` names (nil: `<data-dir>/coffer.sqlite`); nothing for
    /// PostgreSQL or an in-memory database.
    static func acquire(databaseURL: String?, dataDirectory: String) throws {
        let path: String
        switch databaseURL {
        case nil: path = (dataDirectory as NSString).appendingPathComponent("coffer.sqlite")
        case let url? where url.hasPrefix("sqlite://") && url != "sqlite::memory:": path = String(url.dropFirst("sqlite://".count))
        default: return
        }
        let lockPath = path + ".serve.lock"
        let directory = (lockPath as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let fd = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SingleNodeLockError.cannotOpen(lockPath, String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw SingleNodeLockError.taken(path)
        }
        // Kept open (and locked) until the process exits.
    }
}

enum SingleNodeLockError: Error, CustomStringConvertible {
    case cannotOpen(String, String)
    case taken(String)

    var description: String {
        switch self {
        case .cannotOpen(let path, let reason): "cannot open \(path): \(reason)"
        case .taken(let path):
            """
            another coffer serve already runs on the SQLite database \(path): SQLite is for one node. \
            Run several nodes on PostgreSQL (--database postgres://…) instead.
            """
        }
    }
}

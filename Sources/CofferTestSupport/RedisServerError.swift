/// Why a test Redis server could not be started.
package enum RedisServerError: Error, CustomStringConvertible {
    /// `redis-server` is not installed.
    case executableNotFound
    /// The server exited or never answered `PING`; carries the end of its log for the test report.
    case failedToStart(String)

    /// A message that says what to do about it.
    package var description: String {
        switch self {
        case .executableNotFound:
            return "redis-server not found on PATH; install it with `apt-get install -y redis-server`"
        case .failedToStart(let detail):
            return "redis-server failed to start: \(detail)"
        }
    }
}

import ArgumentParser
import CofferCore
import Foundation

/// What every client command accepts: which profile to use and whether to print the API's JSON.
struct ClientOptions: ParsableArguments {
    @Option(help: "Profile file (default $COFFER_PROFILE or ~/.config/coffer/profile.json).") var profile: String?
    @Flag(help: "Print what the API returned (JSON) instead of a table.") var json = false

    func client() throws -> CofferClient {
        let path = ClientProfile.path(option: self.profile, environment: ProcessInfo.processInfo.environment)
        return try CofferClient(profile: try ClientProfile.load(path: path))
    }

    /// Prints the API's answer as it came (plus a newline), for `--json`.
    func printJSON(_ response: APIResponse) {
        FileHandle.standardOutput.write(response.body)
        if response.body.last != UInt8(ascii: "\n") { FileHandle.standardOutput.write(Data("\n".utf8)) }
    }

    /// Prints a value the client assembled from several answers (each kept as the API returned it).
    func printJSON(_ value: JSONValue) {
        FileHandle.standardOutput.write(value.encoded() + Data("\n".utf8))
    }
}

/// `--wait` and its time limit, for the commands that start a job.
struct WaitOptions: ParsableArguments {
    @Flag(help: "Wait until the job ends, showing its progress; exit non-zero if it fails.") var wait = false
    @Option(help: "With --wait: give up after this many seconds.") var timeout: Int = 3600

    var deadline: Date { Date().addingTimeInterval(TimeInterval(max(1, self.timeout))) }
}

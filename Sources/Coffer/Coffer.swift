import ArgumentParser

/// `coffer`: the server and its admin commands.
@main
struct Coffer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coffer",
        abstract: "Self-hosted backups of Redis and sharded MySQL/MariaDB behind Huawei Cloud's DCS and DDM APIs.",
        subcommands: [Serve.self, Admin.self])
}

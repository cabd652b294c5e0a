import ArgumentParser

/// `coffer`: the server, its admin commands and the client commands.
@main
struct Coffer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coffer",
        abstract: "Self-hosted backups of Redis and sharded MySQL/MariaDB behind Huawei Cloud's DCS and DDM APIs.",
        subcommands: [
            Serve.self, Admin.self,
            // Client commands (Client/): talk to a running server with the saved profile's AK/SK.
            Login.self, InstanceCommand.self, BackupCommand.self, RestoreCommand.self, DDMCommand.self,
        ])
}

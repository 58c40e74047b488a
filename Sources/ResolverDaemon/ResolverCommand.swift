import ArgumentParser

/// `resolverd`: the daemon and its operator commands.
@main
struct ResolverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolverd",
        abstract: "Keeps connector credentials encrypted in PostgreSQL, renews OAuth tokens, and resolves them for internal services.",
        discussion: """
            Configuration comes from the environment (DATABASE_URL, RESOLVERD_DATA_DIR, RESOLVERD_LOG_LEVEL, …). \
            Without DATABASE_URL, resolverd runs a private PostgreSQL cluster under RESOLVERD_DATA_DIR \
            (default ./.resolverd-data) for development.
            """,
        subcommands: [ServeCommand.self, MigrateCommand.self, CheckConfigCommand.self, ConnectorsCommand.self, APIKeyCommand.self]
    )
}

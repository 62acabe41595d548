"""`pyd system`: daemon-wide commands, one module each, imported when they run."""

from __future__ import annotations

from pyd_cli.lazy import LazyCommand, LazyGroup

COMMANDS: dict[str, LazyCommand] = {
    "events": LazyCommand(
        "pyd_cli.commands.system.events:events", "Get real time events from the server"
    ),
    "df": LazyCommand("pyd_cli.commands.system.df:df", "Show pyd disk usage"),
    "prune": LazyCommand("pyd_cli.commands.system.df:prune", "Remove unused data"),
    "info": LazyCommand("pyd_cli.commands.system.info:info", "Display system-wide information"),
}

group = LazyGroup(
    name="system",
    help="Manage pyd.",
    lazy_subcommands=COMMANDS,
    no_args_is_help=True,
    context_settings={"help_option_names": ["--help"]},
)

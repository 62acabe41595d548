"""`pyd volume`: its subcommands, imported when they run."""

from __future__ import annotations

from pyd_cli.lazy import LazyCommand, LazyGroup

_P = "pyd_cli.commands.volume.commands:"

COMMANDS: dict[str, LazyCommand] = {
    "create": LazyCommand(_P + "create", "Create a volume"),
    "inspect": LazyCommand(_P + "inspect", "Display detailed information on one or more volumes"),
    "ls": LazyCommand(_P + "ls", "List volumes"),
    "prune": LazyCommand(_P + "prune", "Remove unused local volumes"),
    "rm": LazyCommand(_P + "rm", "Remove one or more volumes"),
}

group = LazyGroup(
    name="volume",
    help="Manage volumes.",
    lazy_subcommands=COMMANDS,
    aliases={"list": "ls", "remove": "rm"},
    no_args_is_help=True,
    context_settings={"help_option_names": ["--help"]},
)

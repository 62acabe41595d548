"""`pyd network`: its subcommands, imported when they run."""

from __future__ import annotations

from pyd_cli.lazy import LazyCommand, LazyGroup

_P = "pyd_cli.commands.network.commands:"

COMMANDS: dict[str, LazyCommand] = {
    "connect": LazyCommand(_P + "connect", "Connect a container to a network"),
    "create": LazyCommand(_P + "create", "Create a network"),
    "disconnect": LazyCommand(_P + "disconnect", "Disconnect a container from a network"),
    "inspect": LazyCommand(_P + "inspect", "Display detailed information on one or more networks"),
    "ls": LazyCommand(_P + "ls", "List networks"),
    "prune": LazyCommand(_P + "prune", "Remove all unused networks"),
    "rm": LazyCommand(_P + "rm", "Remove one or more networks"),
}

group = LazyGroup(
    name="network",
    help="Manage networks.",
    lazy_subcommands=COMMANDS,
    aliases={"list": "ls", "remove": "rm"},
    no_args_is_help=True,
    context_settings={"help_option_names": ["--help"]},
)

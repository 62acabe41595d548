"""`pyd checkpoint`: its subcommands, one module each, imported when they run."""

from __future__ import annotations

from pyd_cli.lazy import LazyCommand, LazyGroup

# name → LazyCommand("pyd_cli.commands.checkpoint.<module>:<command>", "one-line help")
COMMANDS: dict[str, LazyCommand] = {}

group = LazyGroup(
    name="checkpoint",
    help="Manage checkpoints.",
    lazy_subcommands=COMMANDS,
    no_args_is_help=True,
    context_settings={"help_option_names": ["--help"]},
)

"""`pyd checkpoint`: its subcommands, imported when they run."""

from __future__ import annotations

from pyd_cli.lazy import LazyCommand, LazyGroup

_P = "pyd_cli.commands.checkpoint."

COMMANDS: dict[str, LazyCommand] = {
    "create": LazyCommand(_P + "commands:create", "Create a checkpoint from a running container"),
    "export": LazyCommand(_P + "commands:export", "Export a checkpoint as one self-contained file"),
    "import": LazyCommand(_P + "import_:import_", "Import an exported checkpoint"),
    "ls": LazyCommand(_P + "commands:ls", "List checkpoints for a container"),
    "rm": LazyCommand(_P + "commands:rm", "Remove a checkpoint"),
}

group = LazyGroup(
    name="checkpoint",
    help="Manage checkpoints.",
    lazy_subcommands=COMMANDS,
    aliases={"list": "ls", "remove": "rm"},
    no_args_is_help=True,
    context_settings={"help_option_names": ["--help"]},
)

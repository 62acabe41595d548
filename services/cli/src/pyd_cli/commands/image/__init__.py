"""`pyd image`: its subcommands, one module each, imported when they run."""

from __future__ import annotations

from pyd_cli.lazy import LazyCommand, LazyGroup

_P = "pyd_cli.commands.image."

COMMANDS: dict[str, LazyCommand] = {
    "import": LazyCommand(
        _P + "transfer:import_", "Import the contents from a tarball to create a filesystem image"
    ),
    "inspect": LazyCommand(
        _P + "manage:image_inspect", "Display detailed information on one or more images"
    ),
    "load": LazyCommand(_P + "transfer:load", "Load an image from a tar archive or STDIN"),
    "ls": LazyCommand(_P + "ls:ls", "List images"),
    "prune": LazyCommand(_P + "manage:prune", "Remove unused images"),
    "pull": LazyCommand(_P + "pull:pull", "Download an image from a registry"),
    "rm": LazyCommand(_P + "manage:rmi", "Remove one or more images"),
    "save": LazyCommand(
        _P + "transfer:save",
        "Save one or more images to a tar archive (streamed to STDOUT by default)",
    ),
    "tag": LazyCommand(_P + "manage:tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
}

ALIASES: dict[str, str] = {"list": "ls", "images": "ls", "remove": "rm", "rmi": "rm"}

group = LazyGroup(
    name="image",
    help="Manage images.",
    lazy_subcommands=COMMANDS,
    aliases=ALIASES,
    no_args_is_help=True,
    context_settings={"help_option_names": ["--help"]},
)

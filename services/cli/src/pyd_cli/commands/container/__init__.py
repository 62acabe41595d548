"""`pyd container`: its subcommands, one module each, imported when they run."""

from __future__ import annotations

from pyd_cli.lazy import LazyCommand, LazyGroup

_P = "pyd_cli.commands.container."

# name → LazyCommand("pyd_cli.commands.container.<module>:<command>", "one-line help")
COMMANDS: dict[str, LazyCommand] = {
    "attach": LazyCommand(
        _P + "attach:attach",
        "Attach local standard input, output, and error streams to a running container",
    ),
    "cp": LazyCommand(
        _P + "cp:cp", "Copy files/folders between a container and the local filesystem"
    ),
    "create": LazyCommand(_P + "create:create", "Create a new container"),
    "exec": LazyCommand(_P + "exec:exec_", "Execute a command in a running container"),
    "export": LazyCommand(_P + "export:export", "Export a container's filesystem as a tar archive"),
    "inspect": LazyCommand(
        _P + "inspect:container_inspect", "Display detailed information on one or more containers"
    ),
    "kill": LazyCommand(_P + "lifecycle:kill", "Kill one or more running containers"),
    "logs": LazyCommand(_P + "logs:logs", "Fetch the logs of a container"),
    "ls": LazyCommand(_P + "ps:ps", "List containers"),
    "pause": LazyCommand(
        _P + "lifecycle:pause", "Pause all processes within one or more containers"
    ),
    "port": LazyCommand(
        _P + "port:port", "List port mappings or a specific mapping for the container"
    ),
    "prune": LazyCommand(_P + "prune:prune", "Remove all stopped containers"),
    "rename": LazyCommand(_P + "lifecycle:rename", "Rename a container"),
    "restart": LazyCommand(_P + "lifecycle:restart", "Restart one or more containers"),
    "rm": LazyCommand(_P + "lifecycle:rm", "Remove one or more containers"),
    "run": LazyCommand(_P + "run:run", "Create and run a new container from an image"),
    "start": LazyCommand(_P + "start:start", "Start one or more stopped containers"),
    "stats": LazyCommand(
        _P + "stats:stats", "Display a live stream of container(s) resource usage statistics"
    ),
    "stop": LazyCommand(_P + "lifecycle:stop", "Stop one or more running containers"),
    "top": LazyCommand(_P + "top:top", "Display the running processes of a container"),
    "unpause": LazyCommand(
        _P + "lifecycle:unpause", "Unpause all processes within one or more containers"
    ),
    "update": LazyCommand(_P + "update:update", "Update configuration of one or more containers"),
    "wait": LazyCommand(
        _P + "lifecycle:wait",
        "Block until one or more containers stop, then print their exit codes",
    ),
}

# docker's aliases (`docker container list`, `docker container remove` ...), not listed in help.
ALIASES: dict[str, str] = {"list": "ls", "ps": "ls", "remove": "rm"}

group = LazyGroup(
    name="container",
    help="Manage containers.",
    lazy_subcommands=COMMANDS,
    aliases=ALIASES,
    no_args_is_help=True,
    context_settings={"help_option_names": ["--help"]},
)

"""`pyd`: the root click group, global flags, and errors → messages and exit codes.

Subcommands are listed in COMMANDS and imported only when they run (lazy.py).
Every failure ends as one line on stderr and docker's exit status; a traceback
is printed only with --debug.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from pyd_cli import __version__
from pyd_cli.context import Cli
from pyd_cli.errors import EXIT_ERROR, EXIT_USAGE, CliError
from pyd_cli.lazy import LazyCommand, LazyGroup

DEFAULT_HOST = "unix:///run/pyd/pyd.sock"

_C = "Common Commands"
_M = "Management Commands"

# name → where it lives. Docker's top-level shortcuts (ps, run, version ...)
# point at the same command objects as their `pyd container ...` form.
_CT = "pyd_cli.commands.container."
_IM = "pyd_cli.commands.image."

COMMANDS: dict[str, LazyCommand] = {
    # Common Commands
    "run": LazyCommand(_CT + "run:run", "Create and run a new container from an image", _C),
    "exec": LazyCommand(_CT + "exec:exec_", "Execute a command in a running container", _C),
    "ps": LazyCommand(_CT + "ps:ps", "List containers", _C),
    "images": LazyCommand(_IM + "ls:ls", "List images", _C),
    "pull": LazyCommand(_IM + "pull:pull", "Download an image from a registry", _C),
    "version": LazyCommand(
        "pyd_cli.commands.system.version:version", "Show the pyd version information", _C
    ),
    "info": LazyCommand("pyd_cli.commands.system.info:info", "Display system-wide information", _C),
    # Management Commands
    "container": LazyCommand("pyd_cli.commands.container:group", "Manage containers", _M),
    "image": LazyCommand("pyd_cli.commands.image:group", "Manage images", _M),
    "network": LazyCommand("pyd_cli.commands.network:group", "Manage networks", _M),
    "volume": LazyCommand("pyd_cli.commands.volume:group", "Manage volumes", _M),
    "checkpoint": LazyCommand("pyd_cli.commands.checkpoint:group", "Manage checkpoints", _M),
    "system": LazyCommand("pyd_cli.commands.system:group", "Manage pyd", _M),
    # Commands (docker's top-level shortcuts)
    "attach": LazyCommand(
        _CT + "attach:attach",
        "Attach local standard input, output, and error streams to a running container",
    ),
    "cp": LazyCommand(
        _CT + "cp:cp", "Copy files/folders between a container and the local filesystem"
    ),
    "create": LazyCommand(_CT + "create:create", "Create a new container"),
    "events": LazyCommand(
        "pyd_cli.commands.system.events:events", "Get real time events from the server"
    ),
    "export": LazyCommand(
        _CT + "export:export", "Export a container's filesystem as a tar archive"
    ),
    "import": LazyCommand(
        _IM + "transfer:import_", "Import the contents from a tarball to create a filesystem image"
    ),
    "inspect": LazyCommand(_CT + "inspect:inspect", "Return low-level information on pyd objects"),
    "kill": LazyCommand(_CT + "lifecycle:kill", "Kill one or more running containers"),
    "load": LazyCommand(_IM + "transfer:load", "Load an image from a tar archive or STDIN"),
    "logs": LazyCommand(_CT + "logs:logs", "Fetch the logs of a container"),
    "pause": LazyCommand(
        _CT + "lifecycle:pause", "Pause all processes within one or more containers"
    ),
    "port": LazyCommand(
        _CT + "port:port", "List port mappings or a specific mapping for the container"
    ),
    "rename": LazyCommand(_CT + "lifecycle:rename", "Rename a container"),
    "restart": LazyCommand(_CT + "lifecycle:restart", "Restart one or more containers"),
    "rm": LazyCommand(_CT + "lifecycle:rm", "Remove one or more containers"),
    "rmi": LazyCommand(_IM + "manage:rmi", "Remove one or more images"),
    "save": LazyCommand(
        _IM + "transfer:save",
        "Save one or more images to a tar archive (streamed to STDOUT by default)",
    ),
    "start": LazyCommand(_CT + "start:start", "Start one or more stopped containers"),
    "stats": LazyCommand(
        _CT + "stats:stats", "Display a live stream of container(s) resource usage statistics"
    ),
    "stop": LazyCommand(_CT + "lifecycle:stop", "Stop one or more running containers"),
    "tag": LazyCommand(_IM + "manage:tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "top": LazyCommand(_CT + "top:top", "Display the running processes of a container"),
    "unpause": LazyCommand(
        _CT + "lifecycle:unpause", "Unpause all processes within one or more containers"
    ),
    "update": LazyCommand(_CT + "update:update", "Update configuration of one or more containers"),
    "wait": LazyCommand(
        _CT + "lifecycle:wait",
        "Block until one or more containers stop, then print their exit codes",
    ),
}

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["--help"], "max_content_width": 100}

# The Cli object of the running invocation, for main()'s error handler.
_current: Cli | None = None


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"pyd version {__version__}")
        ctx.exit(0)


@click.group(
    "pyd",
    cls=LazyGroup,
    lazy_subcommands=COMMANDS,
    context_settings=CONTEXT_SETTINGS,
    no_args_is_help=True,
)
@click.option(
    "-H",
    "--host",
    envvar="PYD_HOST",
    default=DEFAULT_HOST,
    show_default=True,
    metavar="HOST",
    help="Daemon socket to connect to (env PYD_HOST)",
)
@click.option("-D", "--debug", is_flag=True, help="Enable debug mode (tracebacks on errors)")
@click.option(
    "-v",
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Print version information and quit",
)
@click.pass_context
def cli(ctx: click.Context, host: str, debug: bool) -> None:
    """A self-sufficient runtime for containers, built like Docker."""
    global _current
    _current = ctx.obj = Cli(host or DEFAULT_HOST, debug)


def _is_flag_error(err: click.UsageError) -> bool:
    """docker exits 125 for flag errors (FlagErrorFunc) and 1 for argument errors."""
    if isinstance(err, click.NoSuchOption | click.BadOptionUsage):
        return True
    param = getattr(err, "param", None)
    if isinstance(err, click.BadParameter | click.MissingParameter):
        return isinstance(param, click.Option)
    return False


def _usage_error(err: click.UsageError) -> tuple[str, int]:
    ctx = err.ctx
    path = ctx.command_path if ctx is not None else "pyd"
    if isinstance(err, click.exceptions.NoArgsIsHelpError):
        return "", -1
    if isinstance(err, click.NoSuchOption):
        name = err.option_name
        if name.startswith("--"):
            message = f"unknown flag: {name}"
        else:
            message = f"unknown shorthand flag: {name[1:2]!r} in {name}"
    elif isinstance(err, click.BadOptionUsage) and "requires an argument" in err.message:
        # pflag's wording for a flag given without its value
        name = err.option_name
        if name.startswith("--"):
            message = f"flag needs an argument: {name}"
        else:
            message = f"flag needs an argument: {name[1:2]!r} in {name}"
    elif isinstance(err, click.exceptions.NoSuchCommand):
        words = [*path.split()[1:], err.command_name]
        return f"pyd: '{' '.join(words)}' is not a pyd command.\nSee '{path} --help'", EXIT_ERROR
    else:
        message = err.format_message()
    status = EXIT_USAGE if _is_flag_error(err) else EXIT_ERROR
    return f"pyd: {message}\nSee '{path} --help'.", status


def _report(message: str) -> None:
    if message:
        sys.stderr.write(message.rstrip("\n") + "\n")
        sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `pyd` console script: run, then exit with the status.

    The exit skips interpreter shutdown once output is flushed: grpc's background
    poller can abort the process (SIGABRT, "epoll_wait error: Bad file descriptor")
    when Python tears down while its threads still run, after the work is done."""
    status = run(argv)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if "grpc" in sys.modules:
        os._exit(status)
    sys.exit(status)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit status instead of exiting."""
    global _current
    _current = None
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "-D" in args or "--debug" in args
    try:
        # Without standalone mode click returns a command's ctx.exit(N) status.
        status = cli.main(args=args, prog_name="pyd", standalone_mode=False)
        return status if isinstance(status, int) else 0
    except click.exceptions.NoArgsIsHelpError as err:
        click.echo(err.ctx.get_help())
        return 0
    except click.UsageError as err:
        message, status = _usage_error(err)
        _report(message)
        return status
    except click.exceptions.Exit as err:
        return int(err.exit_code)
    except click.Abort:
        return EXIT_ERROR
    except click.ClickException as err:
        _report(f"pyd: {err.format_message()}")
        return err.exit_code or EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Reader went away (`pyd ps | head`): exit quietly, as Go programs do.
        _silence_stdout()
        return EXIT_ERROR
    except Exception as exc:
        return _handle_error(exc, debug)


def _handle_error(exc: Exception, debug: bool) -> int:
    cur = _current
    debug = debug or (cur is not None and cur.debug)
    prefix = cur.error_prefix if cur is not None else ""
    from pyd_cli.client import is_rpc_error, map_rpc_error

    if debug:
        import traceback

        traceback.print_exception(exc)
    if isinstance(exc, CliError):
        err = exc
    elif is_rpc_error(exc):
        host = cur.host if cur is not None else DEFAULT_HOST
        status = cur.daemon_error_status if cur is not None else EXIT_ERROR
        err = map_rpc_error(exc, host, daemon_error_status=status)
    else:
        # A bug or an OS error: still one line (the type says which).
        _report(f"{prefix}{type(exc).__name__}: {exc}")
        return EXIT_ERROR
    if err.message:
        message = err.message
        if cur is not None and cur.error_period:
            message = message.rstrip(".") + "."
        _report(prefix + message)
    return err.status


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    main()

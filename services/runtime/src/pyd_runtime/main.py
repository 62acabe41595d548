"""pyd-runc: the command line (runc's main.go).

Global flags come before the command; each command lives in ``cli/<name>.py`` with an
``add_arguments(parser)`` and a ``run(args, globals) -> exit code``, and is imported only
when it runs, so start-up pays for one command, not all of them. The parser is
flags.FlagParser (argparse's interface without argparse's imports: see flags.py).
"""

from __future__ import annotations

import os
import sys

from pyd_runtime import log
from pyd_runtime.flags import FlagParser, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from pyd_runtime.flags import Namespace

VERSION = "0.1.0"
SPEC_VERSION = "1.0.2-dev"

COMMANDS = {
    "checkpoint": "checkpoint a running container",
    "create": "create a container",
    "delete": "delete any resources held by the container often used with detached container",
    "events": "display container events such as OOM notifications, cpu, memory, and IO "
              "usage statistics",
    "exec": "execute new process inside the container",
    "kill": "kill sends the specified signal (default: SIGTERM) to the container's init "
            "process",
    "list": "lists containers started by runc with the given root",
    "pause": "pause suspends all processes inside the container",
    "ps": "ps displays the processes running inside a container",
    "restore": "restore a container from a previous checkpoint",
    "resume": "resumes all processes that have been previously paused",
    "run": "create and run a container",
    "spec": "create a new specification file",
    "start": "executes the user defined process in a created container",
    "state": "output the state of a container",
    "update": "update container resource constraints",
}
ALIASES = {"ls": "list"}

USAGE = """NAME:
   pyd-runc - an OCI runtime with runc's command line

USAGE:
   pyd-runc [global options] command [command options] [arguments...]

COMMANDS:
{commands}

GLOBAL OPTIONS:
   --debug                 enable debug logging
   --log value             set the log file to write runc logs to (default: stderr)
   --log-format value      set the log format ('text' (default), or 'json')
   --root value            root directory for storage of container state
                           (default: "/run/pyd/runc")
   --criu value            path to the criu binary used for checkpoint and restore
   --systemd-cgroup        accepted; a slice:prefix:name cgroupsPath is placed under
                           the default parent
   --rootless value        accepted; ignored
   --help, -h              show help
   --version, -v           print the version
"""


class Globals:
    """The global flags."""

    root = "/run/pyd/runc"
    log = ""
    log_format = "text"
    criu = "criu"
    systemd_cgroup = False
    debug = False


# global flag -> (attribute, takes a value)
_GLOBAL_FLAGS = {
    "root": ("root", True), "log": ("log", True), "log-format": ("log_format", True),
    "criu": ("criu", True), "rootless": ("", True), "systemd-cgroup": ("systemd_cgroup", False),
    "debug": ("debug", False),
}


def fatal(msg: str, code: int = 1) -> NoReturn:
    """Log the error, print it to stderr too when logging elsewhere, and exit."""
    log.error(msg)
    if not log.to_stderr():
        sys.stderr.write(msg + "\n")
    sys.exit(code)


def _split(argv: list[str]) -> tuple[list[str], str | None, list[str]]:
    """(global args, command, command args): the command is the first bare word."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("-"):
            return argv[:i], a, argv[i + 1:]
        name = a.lstrip("-").split("=", 1)[0]
        if name in _GLOBAL_FLAGS and _GLOBAL_FLAGS[name][1] and "=" not in a:
            i += 1
        i += 1
    return argv, None, []


def parse_globals(gargs: list[str]) -> tuple[Globals, bool, bool]:
    """(globals, --help given, --version given); unknown flags are usage errors."""
    g = Globals()
    want_help = want_version = False
    i = 0
    while i < len(gargs):
        a = gargs[i]
        i += 1
        name, eq, val = a.lstrip("-").partition("=")
        if name in ("h", "help"):
            want_help = True
            continue
        if name in ("v", "version"):
            want_version = True
            continue
        spec = _GLOBAL_FLAGS.get(name)
        if spec is None:
            raise UsageError(f"flag provided but not defined: -{name}")
        attr, valued = spec
        if valued:
            if not eq:
                if i >= len(gargs):
                    raise UsageError(f"flag needs an argument: -{name}")
                val = gargs[i]
                i += 1
            if attr == "log_format" and val not in ("text", "json"):
                raise UsageError(f"unknown log-format {val!r}")
            if attr:
                setattr(g, attr, val)
        else:
            setattr(g, attr, not eq or val.lower() in ("true", "1"))
    return g, want_help, want_version


def main(argv: list[str] | None = None) -> int:
    """Entry point of the pyd-runc command."""
    argv = sys.argv[1:] if argv is None else argv
    gargs, cmd, rest = _split(argv)
    try:
        g, want_help, want_version = parse_globals(gargs)
    except UsageError as e:
        sys.stderr.write(USAGE.format(commands=_command_list()))
        fatal(str(e))
    log.configure(g.log, g.log_format, g.debug)
    if want_version:
        sys.stdout.write(f"pyd-runc version {VERSION}\nspec: {SPEC_VERSION}\n")
        return 0
    if cmd is None or want_help:
        sys.stdout.write(USAGE.format(commands=_command_list()))
        return 0
    cmd = ALIASES.get(cmd, cmd)
    if cmd not in COMMANDS:
        fatal(f"No help topic for '{cmd}'")
    mod: Any = __import__(f"pyd_runtime.cli.{cmd}", fromlist=["run"])
    p = FlagParser(prog=f"pyd-runc {cmd}", description=COMMANDS[cmd])
    mod.add_arguments(p)
    try:
        args = p.parse_args(rest)
    except UsageError as e:
        p.print_usage(sys.stderr)
        fatal(str(e))
    if g.root:
        g.root = os.path.abspath(g.root)
    return run_command(cmd, mod, args, g)


def _command_list() -> str:
    return "\n".join(f"   {k:<11} {v}" for k, v in COMMANDS.items())


def run_command(cmd: str, mod: Any, args: Namespace, g: Globals) -> int:
    """Run one command, turning errors into runc's messages and exit codes."""
    from pyd_runtime.libcontainer.container import ContainerError
    from pyd_runtime.specconv import ConfigError

    prefix = f"pyd-runc {cmd} failed: " if cmd in ("create", "run", "restore") else ""
    if cmd == "exec":
        prefix = "exec failed: "
    code = 255 if cmd == "exec" else 1
    try:
        return int(mod.run(args, g) or 0)
    except (ContainerError, ConfigError, ValueError) as e:
        fatal(prefix + str(e), code)
    except OSError as e:
        text = e.strerror or str(e)
        if e.filename is not None and str(e.filename) not in text:
            text = f"{e.filename}: {text}"
        fatal(prefix + text, code)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

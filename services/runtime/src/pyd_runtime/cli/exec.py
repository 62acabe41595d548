"""exec: run another process in a running container (joins its namespaces and cgroups)."""

from __future__ import annotations

import os

from pyd_runtime import fastjson
from pyd_runtime.cli._common import container
from pyd_runtime.flags import REMAINDER

# typing is imported only by type checkers: it costs start-up time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyd_runtime.flags import FlagParser, Namespace


def add_arguments(p: FlagParser) -> None:
    """Flags of ``runc exec``."""
    p.add_argument("--console-socket", default="", help="path to an AF_UNIX socket which "
                   "will receive the master end of the console's pseudoterminal")
    p.add_argument("--cwd", default="", help="current working directory in the container")
    p.add_argument("--env", "-e", action="append", default=[], help="set environment "
                   "variables")
    p.add_argument("--tty", "-t", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("--user", "-u", default="", help="UID (format: <uid>[:<gid>])")
    p.add_argument("--additional-gids", "-g", action="append", type=int, default=[],
                   help="additional gids")
    p.add_argument("--process", "-p", default="", help="path to the process.json")
    p.add_argument("--detach", "-d", action="store_true", help="detach from the container's "
                   "process")
    p.add_argument("--pid-file", default="", help="specify the file to write the process "
                   "id to")
    p.add_argument("--process-label", default="", help="accepted; ignored")
    p.add_argument("--apparmor", default="", help="accepted; ignored")
    p.add_argument("--no-new-privs", action="store_true", help="set the no new privileges "
                   "value for the process")
    p.add_argument("--cap", "-c", action="append", default=[], help="add a capability to "
                   "the bounding set for the process")
    p.add_argument("--preserve-fds", type=int, default=0, help="pass N additional file "
                   "descriptors to the container")
    p.add_argument("--ignore-paused", action="store_true", help="accepted; ignored")
    p.add_argument("container_id", metavar="container-id")
    p.add_argument("command", nargs=REMAINDER)


def build_process(args: Namespace, spec: dict[str, Any]) -> Any:
    """The exec'd process: --process JSON as is, or the container's process with the
    command line's args and overrides (runc's getProcess)."""
    from pyd_runtime.libcontainer.capabilities import to_mask
    from pyd_runtime.specconv import ConfigError, parse_process

    if args.process:
        with open(args.process) as f:
            try:
                raw = fastjson.loads(f.read())
            except ValueError as e:
                raise ConfigError(f"{args.process}: invalid JSON: {e}") from None
        return parse_process(raw, "process.json")
    if not args.command:
        raise ValueError("exec args cannot be empty")
    base = dict(spec.get("process") or {})
    base["args"] = args.command
    base["terminal"] = args.tty
    if args.cwd:
        base["cwd"] = args.cwd
    proc = parse_process(base)
    proc.env = proc.env + list(args.env)
    if args.user:
        uid, _, gid = args.user.partition(":")
        try:
            proc.user.uid = int(uid)
            if gid:
                proc.user.gid = int(gid)
        except ValueError:
            raise ValueError(f"parsing {args.user} as <uid>[:<gid>] failed") from None
    if args.additional_gids:
        proc.user.additional_gids = list(args.additional_gids)
    if args.no_new_privs:
        proc.no_new_privileges = True
    if args.cap:
        extra = to_mask(args.cap)
        proc.has_caps = True
        proc.bounding |= extra
        proc.effective |= extra
        proc.permitted |= extra
        proc.inheritable |= extra
        proc.ambient |= extra
    return proc


def run(args: Namespace, g: Any) -> int:
    """Start the process; in the foreground wait for it and pass its exit code."""
    from pyd_runtime.libcontainer import process
    from pyd_runtime.specconv import spec_to_config

    c = container(g, args.container_id)
    spec = c.state.get("config") or {}
    cfg = spec_to_config(spec, c.state.get("bundle", "/"), need_process=False)
    proc = build_process(args, spec)
    if proc.terminal and args.detach and not args.console_socket:
        raise ValueError("cannot allocate tty if runc will detach without setting console "
                         "socket")
    if not args.detach:
        process.set_subreaper()
    ours = theirs = -1
    if proc.terminal and not args.console_socket:
        from pyd_runtime.libcontainer import console

        ours, theirs = console.pair()
    try:
        pid = process.exec_process(c, proc, cfg, console_socket=args.console_socket or None,
                                   pid_file=args.pid_file, preserve_fds=args.preserve_fds,
                                   debug=g.debug, console_fd=theirs)
    finally:
        if theirs >= 0:
            os.close(theirs)
    if args.detach:
        return 0
    if ours >= 0:
        from pyd_runtime.libcontainer import console

        master = console.recv_master(ours)
        os.close(ours)
        console.proxy(master)
    return process.wait_forwarding(pid, resize_only=ours >= 0)

"""run: create and start a container; in the foreground, wait and pass its exit code."""

from __future__ import annotations

import os

from pyd_runtime.cli._common import add_id, bundle_config

# typing is imported only by type checkers: it costs start-up time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyd_runtime.flags import FlagParser, Namespace


def add_arguments(p: FlagParser) -> None:
    """Flags of ``runc run``."""
    p.add_argument("--bundle", "-b", default="", help="path to the root of the bundle "
                   "directory, defaults to the current directory")
    p.add_argument("--console-socket", default="", help="path to an AF_UNIX socket which "
                   "will receive the master end of the console's pseudoterminal")
    p.add_argument("--detach", "-d", action="store_true", help="detach from the container's "
                   "process")
    p.add_argument("--keep", action="store_true", help="do not delete the container after "
                   "it exits")
    p.add_argument("--pid-file", default="", help="specify the file to write the process "
                   "id to")
    p.add_argument("--no-subreaper", action="store_true", help="disable the use of the "
                   "subreaper used to reap reparented processes")
    p.add_argument("--no-pivot", action="store_true", help="do not use pivot root to jail "
                   "process inside rootfs")
    p.add_argument("--no-new-keyring", action="store_true", help="accepted; ignored")
    p.add_argument("--preserve-fds", type=int, default=0, help="pass N additional file "
                   "descriptors to the container")
    add_id(p)


def run(args: Namespace, g: Any) -> int:
    """Create, start, and (unless -d) wait."""
    from pyd_runtime.libcontainer import process

    spec, cfg = bundle_config(args.bundle)
    term = cfg.process.terminal
    if term and args.detach and not args.console_socket:
        raise ValueError("cannot allocate tty if runc will detach without setting console "
                         "socket")
    if args.console_socket and (not term or not args.detach):
        raise ValueError("cannot use console socket if runc will not detach or allocate tty")
    if not args.detach:
        # The container's process is our grandchild: adopt it to wait for it.
        process.set_subreaper()
    ours = theirs = -1
    if term and not args.console_socket:
        from pyd_runtime.libcontainer import console

        ours, theirs = console.pair()
    try:
        c = process.create(g.root, args.container_id, cfg, spec,
                           console_socket=args.console_socket or None,
                           pid_file=args.pid_file, no_pivot=args.no_pivot,
                           preserve_fds=args.preserve_fds, debug=g.debug, console_fd=theirs)
    finally:
        if theirs >= 0:
            os.close(theirs)
    try:
        process.start(c)
    except BaseException:
        c.destroy()
        raise
    if args.detach:
        return 0
    master = -1
    if ours >= 0:
        from pyd_runtime.libcontainer import console

        master = console.recv_master(ours)
        os.close(ours)
    try:
        if master >= 0:
            from pyd_runtime import signals

            for s in process.FORWARDED:
                if s != signals.SIGWINCH:
                    signals.handle(s, lambda n, _f: os.kill(c.pid, n))
            from pyd_runtime.libcontainer import console

            console.proxy(master)
        code = process.wait_forwarding(c.pid, resize_only=master >= 0)
    finally:
        if not args.keep:
            c.destroy()
    return code

"""create: set the container up and leave its process waiting for ``start``."""

from __future__ import annotations

from pyd_runtime.cli._common import add_id, bundle_config

# typing is imported only by type checkers: it costs start-up time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyd_runtime.flags import FlagParser, Namespace


def add_arguments(p: FlagParser) -> None:
    """Flags of ``runc create``."""
    p.add_argument("--bundle", "-b", default="", help="path to the root of the bundle "
                   "directory, defaults to the current directory")
    p.add_argument("--console-socket", default="", help="path to an AF_UNIX socket which "
                   "will receive a file descriptor referencing the master end of the "
                   "console's pseudoterminal")
    p.add_argument("--pid-file", default="", help="specify the file to write the process "
                   "id to")
    p.add_argument("--no-pivot", action="store_true", help="do not use pivot root to jail "
                   "process inside rootfs")
    p.add_argument("--no-new-keyring", action="store_true", help="accepted; ignored")
    p.add_argument("--preserve-fds", type=int, default=0, help="pass N additional file "
                   "descriptors to the container (stdio + $LISTEN_FDS + N in total)")
    add_id(p)


def run(args: Namespace, g: Any) -> int:
    """Create the container."""
    from pyd_runtime.libcontainer import process

    spec, cfg = bundle_config(args.bundle)
    if cfg.process.terminal and not args.console_socket:
        raise ValueError("cannot allocate tty if runc will detach without setting console "
                         "socket")
    if not cfg.process.terminal and args.console_socket:
        raise ValueError("cannot use console socket if runc will not detach or allocate tty")
    process.create(g.root, args.container_id, cfg, spec, console_socket=args.console_socket,
                   pid_file=args.pid_file, no_pivot=args.no_pivot,
                   preserve_fds=args.preserve_fds, debug=g.debug)
    return 0

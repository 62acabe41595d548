"""`pyd-runc checkpoint`: runc's checkpoint.go.

    pyd-runc checkpoint [--image-path DIR] [--work-path DIR] [--parent-path REL]
        [--leave-running] [--tcp-established] [--ext-unix-sk] [--shell-job]
        [--lazy-pages] [--status-fd FD] [--page-server ADDRESS:PORT]
        [--file-locks] [--pre-dump] [--manage-cgroups-mode soft|full|strict]
        [--empty-ns network] [--auto-dedup] <container-id>

`add_arguments` only declares flags; `run` does the work (see criu/container.py
for what CRIU is told).  main.py maps the errors to runc's messages.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyd_runtime.flags import FlagParser, Namespace

USAGE = "checkpoint a running container"


def add_arguments(p: FlagParser) -> None:
    """Declare the flags of `checkpoint` (runc 1.1's names and defaults)."""
    p.add_argument("--image-path", default="", help="path for saving criu image files")
    p.add_argument("--work-path", default="", help="path for saving work files and logs")
    p.add_argument("--parent-path", default="",
                   help="path for previous criu image files in pre-dump")
    p.add_argument("--leave-running", action="store_true",
                   help="leave the process running after checkpointing")
    p.add_argument("--tcp-established", action="store_true", help="allow open tcp connections")
    p.add_argument("--ext-unix-sk", action="store_true", help="allow external unix sockets")
    p.add_argument("--shell-job", action="store_true", help="allow shell jobs")
    p.add_argument("--lazy-pages", action="store_true",
                   help="use userfaultfd to lazily restore memory pages")
    p.add_argument("--status-fd", type=int, default=-1,
                   help="criu writes \\0 to this FD once lazy-pages is ready")
    p.add_argument("--page-server", default="", help="ADDRESS:PORT of the page server")
    p.add_argument("--file-locks", action="store_true", help="handle file locks, for safety")
    p.add_argument("--pre-dump", action="store_true",
                   help="dump container's memory information only, leave the container "
                        "running after this")
    p.add_argument("--manage-cgroups-mode", default="",
                   help="cgroups mode: 'soft' (default), 'full' and 'strict'")
    p.add_argument("--empty-ns", action="append", default=[],
                   help="create a namespace, but don't restore its properties")
    p.add_argument("--auto-dedup", action="store_true",
                   help="enable auto deduplication of memory images")
    p.add_argument("container_id", metavar="container-id")


def empty_ns_mask(names: list[str]) -> int:
    """runc's setEmptyNsMask: the network namespace always, plus the named ones."""
    from pyd_runtime.criu.container import CLONE_NEWNET, CheckpointError

    mask = CLONE_NEWNET
    for ns in names:
        if ns != "network":
            raise CheckpointError(f'namespace "{ns}" is not supported')
        mask |= CLONE_NEWNET
    return mask


def image_path(value: str) -> str:
    """--image-path, or runc's default: ./checkpoint."""
    return os.path.abspath(value or "checkpoint")


def run(args: Namespace, g: Any) -> int:
    """Checkpoint the container named by `args` (g: the global flags, --root and --criu)."""
    from pyd_runtime.criu.container import (
        CheckpointError,
        CheckpointOptions,
        ContainerInfo,
        checkpoint,
        parse_cg_mode,
        parse_host_port,
    )
    from pyd_runtime.criu.criu import Criu, CriuError
    from pyd_runtime.libcontainer.container import (
        CREATED,
        STOPPED,
        Container,
        ContainerError,
    )

    container = Container.load(g.root, args.container_id)
    status = container.status()
    if status in (CREATED, STOPPED):
        raise ContainerError(f"Container cannot be checkpointed in {status} state")
    page_server = parse_host_port(args.page_server) if args.page_server else None
    # Lazy migration (`--lazy-pages --page-server ADDR:PORT`): CRIU's own page server
    # fails on this kernel (docs/lazy-restore.md), so pyd dumps every page into the
    # image and serves the lazy ones itself from ADDR:PORT until the destination's
    # lazy-pages has them all -- the same contract as CRIU's lazy dump.
    serve_lazy = args.lazy_pages and page_server is not None and not args.pre_dump
    try:
        opts = CheckpointOptions(
            image_path=image_path(args.image_path),
            work_path=os.path.abspath(args.work_path) if args.work_path else None,
            parent_path=args.parent_path or None,
            leave_running=args.leave_running,
            tcp_established=args.tcp_established,
            ext_unix_sk=args.ext_unix_sk,
            shell_job=args.shell_job,
            file_locks=args.file_locks,
            pre_dump=args.pre_dump,
            lazy_pages=args.lazy_pages and not serve_lazy,
            status_fd=-1 if serve_lazy else args.status_fd,
            page_server=None if serve_lazy else page_server,
            manage_cgroups_mode=parse_cg_mode(args.manage_cgroups_mode),
            empty_ns=empty_ns_mask(args.empty_ns),
            auto_dedup=args.auto_dedup,
        )
        info = ContainerInfo.from_state(container.state, container.dir)
        info.id = container.id
        try:
            checkpoint(info, opts, Criu(getattr(g, "criu", None) or "criu"))
        finally:
            if not (opts.leave_running or opts.pre_dump):
                # runc destroys the container whatever the dump's outcome
                container.destroy()
        if serve_lazy:
            assert page_server is not None
            serve_pages(opts.image_path, page_server, args.status_fd)
    except (CheckpointError, CriuError) as e:
        raise ContainerError(str(e)) from None
    return 0


def serve_pages(image: str, address: tuple[str, int], status_fd: int) -> None:
    """Serve `image`'s pages on `address` until a lazy-pages client has them all.

    Writes \\0 to `status_fd` (if any) once listening, as CRIU does for a lazy dump.
    """
    from pyd_runtime.criu.pageserver import PageServer

    with PageServer(image, address[0], address[1]) as ps:
        if status_fd >= 0:
            try:
                os.write(status_fd, b"\0")
                os.close(status_fd)
            except OSError:
                pass
        ps.wait_closed()

"""delete: remove a stopped (or, with --force, any) container and what it holds."""

from __future__ import annotations

import os

from pyd_runtime.cli._common import add_id
from pyd_runtime.libcontainer.container import (
    CREATED,
    STOPPED,
    Container,
    InvalidState,
    NotExist,
    remove_state_dir,
    validate_id,
)
from pyd_runtime.signals import SIGKILL

# typing is imported only by type checkers: it costs start-up time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyd_runtime.flags import FlagParser, Namespace


def add_arguments(p: FlagParser) -> None:
    """Flags of ``runc delete``."""
    p.add_argument("--force", "-f", action="store_true", help="Forcibly deletes the "
                   "container if it is still running (uses SIGKILL)")
    add_id(p)


def run(args: Namespace, g: Any) -> int:
    """Delete the container."""
    cid = args.container_id
    try:
        c = Container.load(g.root, cid)
    except NotExist:
        # An aborted create can leave the directory without state.json.
        validate_id(cid)
        remove_state_dir(os.path.join(g.root, cid))
        if args.force:
            return 0
        raise
    status = c.status()
    if status in (STOPPED, CREATED):
        c.destroy()
        return 0
    if not args.force:
        raise InvalidState(f"cannot delete container {cid} that is not stopped: {status}")
    try:
        c.signal(SIGKILL, all_procs=True)
    except InvalidState:
        pass
    c.destroy()
    return 0

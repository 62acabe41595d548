"""start: let a created container's process exec the user's program."""

from __future__ import annotations

from pyd_runtime.cli._common import add_id, container

# typing is imported only by type checkers: it costs start-up time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyd_runtime.flags import FlagParser, Namespace


def add_arguments(p: FlagParser) -> None:
    """Flags of ``runc start``."""
    add_id(p)


def run(args: Namespace, g: Any) -> int:
    """Open the exec fifo."""
    from pyd_runtime.libcontainer import process

    process.start(container(g, args.container_id))
    return 0

"""resume: thaw a paused container."""

from __future__ import annotations

from pyd_runtime.cli._common import add_id, container
from pyd_runtime.libcontainer.container import PAUSED, InvalidState

# typing is imported only by type checkers: it costs start-up time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyd_runtime.flags import FlagParser, Namespace


def add_arguments(p: FlagParser) -> None:
    """Flags of ``runc resume``."""
    add_id(p)


def run(args: Namespace, g: Any) -> int:
    """Thaw."""
    c = container(g, args.container_id)
    if c.status() != PAUSED:
        raise InvalidState("container not paused")
    c.cgroup_manager().thaw()
    return 0

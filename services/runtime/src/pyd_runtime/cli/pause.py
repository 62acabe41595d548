"""pause: freeze every process of the container (freezer cgroup / cgroup.freeze)."""

from __future__ import annotations

from pyd_runtime.cli._common import add_id, container
from pyd_runtime.libcontainer.container import RUNNING, InvalidState

# typing is imported only by type checkers: it costs start-up time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyd_runtime.flags import FlagParser, Namespace


def add_arguments(p: FlagParser) -> None:
    """Flags of ``runc pause``."""
    add_id(p)


def run(args: Namespace, g: Any) -> int:
    """Freeze."""
    c = container(g, args.container_id)
    if c.status() not in (RUNNING, "created"):
        raise InvalidState("container not running")
    c.cgroup_manager().freeze()
    return 0

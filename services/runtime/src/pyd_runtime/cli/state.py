"""state: the OCI state of a container as runc prints it."""

from __future__ import annotations

import sys

from pyd_runtime import fastjson
from pyd_runtime.cli._common import add_id, container

# typing is imported only by type checkers: it costs start-up time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyd_runtime.flags import FlagParser, Namespace


def add_arguments(p: FlagParser) -> None:
    """Flags of ``runc state``."""
    add_id(p)


def run(args: Namespace, g: Any) -> int:
    """Print the state JSON (indented, no trailing newline, like runc)."""
    st = container(g, args.container_id).oci_state()
    sys.stdout.write(fastjson.dumps_indent(st))
    sys.stdout.flush()
    return 0

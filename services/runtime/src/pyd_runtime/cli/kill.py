"""kill: send a signal to the container's init (or, with --all, to every process)."""

from __future__ import annotations

from pyd_runtime.cli._common import add_id, container
from pyd_runtime.signals import NUMBERS

# typing is imported only by type checkers: it costs start-up time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyd_runtime.flags import FlagParser, Namespace


def add_arguments(p: FlagParser) -> None:
    """Flags of ``runc kill``."""
    p.add_argument("--all", "-a", action="store_true", help="send the specified signal to "
                   "all processes inside the container")
    add_id(p)
    p.add_argument("signal", nargs="?", default="SIGTERM")


def parse_signal(raw: str) -> int:
    """A number, or a name with or without SIG, any case (runc's parseSignal)."""
    try:
        n = int(raw)
    except ValueError:
        pass
    else:
        if not 0 < n < 65:
            raise ValueError(f"unknown signal {raw!r}")
        return n
    name = raw.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name not in NUMBERS:
        raise ValueError(f"unknown signal {raw!r}")
    return NUMBERS[name]


def run(args: Namespace, g: Any) -> int:
    """Signal the container."""
    sig = parse_signal(args.signal)
    container(g, args.container_id).signal(sig, all_procs=args.all)
    return 0

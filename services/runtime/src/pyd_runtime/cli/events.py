"""events: container statistics (``--stats`` once, else every ``--interval``) and OOM
notices, as JSON lines like runc's."""

from __future__ import annotations

import sys
import time

from pyd_runtime import fastjson
from pyd_runtime.cli._common import add_id, container
from pyd_runtime.libcontainer.container import STOPPED, InvalidState

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyd_runtime.flags import FlagParser, Namespace

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(s: str) -> float:
    """Go's time.ParseDuration for the simple forms: ``5s``, ``500ms``, ``1m30s``."""
    total, num, i = 0.0, "", 0
    while i < len(s):
        c = s[i]
        if c.isdigit() or c == ".":
            num += c
            i += 1
            continue
        unit = next((u for u in ("ns", "us", "µs", "ms", "s", "m", "h") if s.startswith(u, i)),
                    None)
        if unit is None or not num:
            raise ValueError(f"invalid duration {s!r}")
        total += float(num) * _UNITS[unit]
        num = ""
        i += len(unit)
    if num or total <= 0:
        raise ValueError(f"invalid duration {s!r}")
    return total


def add_arguments(p: FlagParser) -> None:
    """Flags of ``runc events``."""
    p.add_argument("--interval", default="5s", help="set the stats collection interval")
    p.add_argument("--stats", action="store_true", help="display the container's stats "
                   "then exit")
    add_id(p)


def _emit(kind: str, cid: str, data: Any = None) -> None:
    ev: dict[str, Any] = {"type": kind, "id": cid}
    if data is not None:
        ev["data"] = data
    sys.stdout.write(fastjson.dumps(ev) + "\n")
    sys.stdout.flush()


def run(args: Namespace, g: Any) -> int:
    """Print stats (and OOM events) until the container stops."""
    from pyd_runtime.libcontainer.cgroups.stats import collect, oom_kills

    c = container(g, args.container_id)
    if c.status() == STOPPED:
        raise InvalidState("container not running")
    mgr = c.cgroup_manager()
    if args.stats:
        _emit("stats", c.id, collect(mgr))
        return 0
    interval = parse_duration(args.interval)
    ooms = oom_kills(mgr)
    next_stats = time.monotonic()
    while c.status() != STOPPED:
        n = oom_kills(mgr)
        if n > ooms:
            _emit("oom", c.id)
            ooms = n
        if time.monotonic() >= next_stats:
            _emit("stats", c.id, collect(mgr))
            next_stats += interval
        time.sleep(min(0.2, interval))
    return 0

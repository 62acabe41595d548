"""list: every container under --root, as a table or JSON."""

from __future__ import annotations

import os
import sys

from pyd_runtime import fastjson
from pyd_runtime.libcontainer.container import Container, ContainerError, list_ids

# typing is imported only by type checkers: it costs start-up time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyd_runtime.flags import FlagParser, Namespace


def add_arguments(p: FlagParser) -> None:
    """Flags of ``runc list``."""
    p.add_argument("--format", "-f", default="table", choices=("table", "json"),
                   help="select one of: table or json (default: \"table\")")
    p.add_argument("--quiet", "-q", action="store_true", help="display only container IDs")


def _owner(path: str) -> str:
    import pwd

    uid = os.stat(path).st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def states(root: str) -> list[dict[str, Any]]:
    """The state of every container, skipping directories without a usable state."""
    out = []
    for cid in list_ids(root):
        try:
            c = Container.load(root, cid)
        except ContainerError:
            continue
        st = c.oci_state()
        st["owner"] = _owner(c.dir)
        out.append(st)
    return out


def tabulate(rows: list[list[str]], minwidth: int = 12, padding: int = 3) -> str:
    """Go's tabwriter with runc's settings: every cell but the last padded to its column's
    width + padding, at least ``minwidth``."""
    if not rows:
        return ""
    ncol = max(len(r) for r in rows)
    widths = [0] * ncol
    for r in rows:
        for i, cell in enumerate(r[:-1]):
            widths[i] = max(widths[i], len(cell) + padding, minwidth)
    lines = []
    for r in rows:
        line = "".join(cell.ljust(widths[i]) for i, cell in enumerate(r[:-1])) + r[-1]
        lines.append(line + "\n")
    return "".join(lines)


def run(args: Namespace, g: Any) -> int:
    """Print the list."""
    sts = states(g.root)
    if args.quiet:
        sys.stdout.write("".join(s["id"] + "\n" for s in sts))
    elif args.format == "json":
        sys.stdout.write((fastjson.dumps(sts) if sts else "null") + "\n")
    else:
        rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
        rows += [[s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"]]
                 for s in sts]
        sys.stdout.write(tabulate(rows))
    return 0

"""ps: the container's processes, as pids in JSON or as a ps(1) table."""

from __future__ import annotations

import sys

from pyd_runtime import fastjson
from pyd_runtime.cli._common import container
from pyd_runtime.flags import REMAINDER

# typing is imported only by type checkers: it costs start-up time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyd_runtime.flags import FlagParser, Namespace


def add_arguments(p: FlagParser) -> None:
    """Flags of ``runc ps``."""
    p.add_argument("--format", "-f", default="table", choices=("table", "json"),
                   help="select one of: table or json (default: \"table\")")
    p.add_argument("container_id", metavar="container-id")
    p.add_argument("ps_args", nargs=REMAINDER)


def filter_table(output: str, pids: set[int]) -> str:
    """Keep ps(1)'s header and the lines whose PID column is one of ``pids``."""
    lines = output.splitlines()
    if not lines:
        return ""
    header = lines[0].split()
    try:
        col = header.index("PID")
    except ValueError:
        raise ValueError("couldn't find PID field in ps output") from None
    out = [lines[0]]
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in pids:
            out.append(line)
    return "\n".join(out) + "\n"


def run(args: Namespace, g: Any) -> int:
    """Print the processes."""
    c = container(g, args.container_id)
    pids = c.cgroup_manager().pids() if c.state.get("cgroup_paths") else []
    if args.format == "json":
        sys.stdout.write(fastjson.dumps(pids) + "\n")
        return 0
    import subprocess

    ps_args = args.ps_args or ["-ef"]
    res = subprocess.run(["ps", *ps_args], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise ValueError(f"ps: {res.stderr.strip() or 'failed'}")
    sys.stdout.write(filter_table(res.stdout, set(pids)))
    return 0

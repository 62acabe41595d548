"""`docker top` (moby daemon/top_unix.go): the host's `ps` output, kept to the rows of
the container's processes."""

from __future__ import annotations

import shlex
import subprocess

from pyd_proto.errdefs import InvalidArgument


def top(pids: list[int], ps_args: str = "") -> tuple[list[str], list[list[str]]]:
    """(titles, rows) of `ps <ps_args>` for `pids`; the PID column must be present."""
    args = shlex.split(ps_args or "-ef")
    try:
        out = subprocess.run(["ps", *args], capture_output=True, text=True, timeout=30,
                             check=True).stdout
    except subprocess.CalledProcessError as e:
        raise InvalidArgument(f"ps: {e.stderr.strip() or e}") from None
    lines = out.splitlines()
    if not lines:
        return [], []
    titles = lines[0].split()
    if "PID" not in titles:
        raise InvalidArgument("Couldn't find PID field in ps output")
    col = titles.index("PID")
    wanted = {str(p) for p in pids}
    rows = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) > col and fields[col] in wanted:
            rows.append(fields)
    return titles, rows

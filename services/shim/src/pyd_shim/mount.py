"""Mount points, found in /proc/self/mountinfo (os.path.ismount misses same-device binds)."""

from __future__ import annotations

import os


def _unescape(field: str) -> str:
    return (field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
            .replace("\\134", "\\"))


def mountpoints_under(path: str) -> list[str]:
    """Mount points at or below `path`, deepest first."""
    path = os.path.realpath(path)
    out = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                point = _unescape(line.split()[4])
                if point == path or point.startswith(path.rstrip("/") + "/"):
                    out.append(point)
    except OSError:
        return []
    return sorted(out, key=len, reverse=True)


def is_mountpoint(path: str) -> bool:
    return os.path.realpath(path) in mountpoints_under(path)

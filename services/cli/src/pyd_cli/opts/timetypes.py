"""`--since`/`--until`: docker's timetypes.GetTimestamp (durations, RFC 3339, unix)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from pyd_cli.opts import OptError

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIX = re.compile(r"^-?\d+(\.\d{1,9})?$")


def parse_go_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds ("1h30m", "10s", "-5m")."""
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    if not body:
        raise ValueError(text)
    while pos < len(body):
        m = _DURATION.match(body, pos)
        if not m:
            raise ValueError(text)
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def get_timestamp(value: str, now: datetime | None = None) -> tuple[int, int]:
    """A flag value → (seconds, nanos) since the epoch."""
    now = now or datetime.now(UTC)
    try:
        seconds = parse_go_duration(value)
        t = now - timedelta(seconds=seconds)
        return int(t.timestamp()), t.microsecond * 1000
    except ValueError:
        pass
    if _UNIX.match(value):
        whole, _, frac = value.partition(".")
        return int(whole), int(frac.ljust(9, "0")) if frac else 0
    text = value.replace("Z", "+00:00")
    for candidate in (text, text + "T00:00:00"):
        try:
            dt = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if dt.tzinfo is None:
            dt = dt.astimezone()
        return int(dt.timestamp()), dt.microsecond * 1000
    raise OptError(f'failed to parse value as time or duration: "{value}"')

"""Sizes and CPU counts: go-units RAMInBytes (`--memory`) and opts.NanoCPUs (`--cpus`)."""

from __future__ import annotations

import re

from pyd_cli.opts import OptError

_BINARY = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_GO_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def ram_in_bytes(size: str) -> int:
    """go-units RAMInBytes: "512m", "1.5g", "64 KiB", "100" (bytes); binary multiples."""
    sep = max(size.rfind(c) for c in "0123456789. ")
    if sep == -1:
        raise OptError(f"invalid size: '{size}'")
    if size[sep] != " ":
        num, sfx = size[: sep + 1], size[sep + 1 :]
    else:
        num, sfx = size[:sep], size[sep + 1 :]
    if not _GO_FLOAT.match(num):
        raise OptError(f'strconv.ParseFloat: parsing "{num}": invalid syntax')
    value = float(num)
    if value < 0:
        raise OptError(f"invalid size: '{size}'")
    if not sfx:
        return int(value)
    bad = OptError(f"invalid suffix: '{sfx.lower() if len(sfx) <= 3 else sfx}'")
    if len(sfx) > 3:
        raise bad
    sfx = sfx.lower()
    if sfx[0] == "b":
        if len(sfx) > 1:
            raise bad
        return int(value)
    mul = _BINARY.get(sfx[0])
    if mul is None:
        raise bad
    if (len(sfx) == 2 and sfx[1] != "b") or (len(sfx) == 3 and sfx[1:] != "ib"):
        raise bad
    return int(value * mul)


def parse_cpus(value: str) -> int:
    """opts.ParseCPUs: a rational number of CPUs → nano-CPUs ("1.5" → 1500000000)."""
    from fractions import Fraction  # only when the flag is used: it pulls in decimal

    try:
        cpus = Fraction(value.strip()) if value == value.strip() else None
    except (ValueError, ZeroDivisionError):
        cpus = None
    if cpus is None:
        raise OptError(f"failed to parse {value} as a rational number")
    nano = cpus * 1_000_000_000
    if nano.denominator != 1:
        raise OptError("value is too precise")
    return int(nano)

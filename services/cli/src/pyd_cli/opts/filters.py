"""`--filter key=value` (repeatable): docker's filters.Args, client side."""

from __future__ import annotations

from pyd_cli.opts import OptError


def parse_filter(value: str) -> tuple[str, str]:
    """One `key=value`; docker's wording for anything else."""
    if "=" not in value:
        raise OptError("bad format of filter (expected name=value)")
    key, _, val = value.partition("=")
    key = key.strip().lower()
    return key, val.strip()


def to_filters(pairs: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    """The pairs grouped by key, in order."""
    out: dict[str, list[str]] = {}
    for key, val in pairs:
        values = out.setdefault(key, [])
        if val not in values:
            values.append(val)
    return out

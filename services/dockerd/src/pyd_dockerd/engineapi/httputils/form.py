"""Query values as moby reads them (api/server/httputils/form.go), the `filters`
argument, and API version arithmetic."""

from __future__ import annotations

import json
from collections.abc import Mapping

from pyd_dockerd.engineapi.httputils.errors import BadParameter


def bool_value(query: Mapping[str, str], key: str) -> bool:
    """moby's BoolValue: absent, "", "0", "no", "false", "none" are false."""
    v = query.get(key, "").strip().lower()
    return v not in ("", "0", "no", "false", "none")


def bool_value_or_default(query: Mapping[str, str], key: str, default: bool) -> bool:
    return bool_value(query, key) if key in query else default


def int_value(query: Mapping[str, str], key: str, default: int | None = None) -> int | None:
    """An integer parameter; a malformed one is a 400, as in moby."""
    raw = query.get(key, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadParameter(f"invalid value for {key}: {raw!r}") from None


def filters(query: Mapping[str, str]) -> dict[str, list[str]]:
    """The `filters` JSON: `{"name": {"web": true}}` (current) or `{"name": ["web"]}`
    (API < 1.22), as moby's filters.FromJSON accepts both."""
    raw = query.get("filters", "")
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise BadParameter(f"invalid filter: {e}") from None
    if not isinstance(doc, dict):
        raise BadParameter("invalid filter: not a JSON object")
    out: dict[str, list[str]] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out[key] = [k for k, on in value.items() if on]
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        else:
            raise BadParameter(f"invalid filter: {key}")
    return out


def parse_version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        raise BadParameter(f"invalid API version: {text!r}") from None


def version_at_least(version: str, other: str) -> bool:
    return parse_version(version) >= parse_version(other)

"""JSON without the ``json`` package: its decoder and encoder import ``re`` (and with it
``enum``, ``functools``, ``collections`` ...), which costs more start-up time than all of
pyd-runc's own modules together. This module drives the same C scanner and encoder
(``_json``) that ``json`` uses, so parsing and output are the same; only the error path
imports the real package, for its messages.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WS = " \t\n\r"


class _Context:
    """What ``_json.make_scanner`` reads from a JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"),
                      "NaN": float("nan")}.__getitem__
    memo: dict[str, str] = {}


_context: Any = _Context()
_no_default: Any = None
_scan = _json.make_scanner(_context)
_encode_str = _json.encode_basestring_ascii
_encoder = _json.make_encoder(None, _no_default, _encode_str, None, ":", ",", False, False,
                              True)
_encoder_spaced = _json.make_encoder(None, _no_default, _encode_str, None, ": ", ", ", False,
                                     False, True)


def loads(data: str | bytes) -> Any:
    """Decode one JSON document (ValueError on bad input, like json.loads)."""
    s = data.decode() if isinstance(data, bytes) else data
    if s.startswith("\ufeff"):
        s = s[1:]
    i, n = 0, len(s)
    while i < n and s[i] in _WS:
        i += 1
    try:
        obj, end = _scan(s, i)
    except (StopIteration, SystemError, ValueError):
        # The C scanner builds its error from json.decoder, which only exists once json
        # is imported: let the real package parse it again and raise its error.
        return _stdlib_loads(s)
    while end < n and s[end] in _WS:
        end += 1
    if end != n:
        return _stdlib_loads(s)
    return obj


def _stdlib_loads(s: str) -> Any:
    import json

    return json.loads(s)


def dumps(obj: Any) -> str:
    """Compact JSON, as ``json.dumps(obj, separators=(",", ":"))``."""
    return "".join(_encoder(obj, 0))


def dumps_spaced(obj: Any) -> str:
    """``json.dumps(obj)``'s default separators."""
    return "".join(_encoder_spaced(obj, 0))


def dumps_indent(obj: Any, indent: str = "  ", _level: int = 0) -> str:
    """As ``json.dumps(obj, indent=...)`` (also Go's MarshalIndent layout)."""
    pad = indent * _level
    inner = pad + indent
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{inner}{_encode_str(str(k))}: {dumps_indent(v, indent, _level + 1)}"
                 for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if not obj:
            return "[]"
        items = [inner + dumps_indent(v, indent, _level + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return dumps(obj)

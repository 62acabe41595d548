"""containerd's filter syntax (pkg/filters), for List calls and event subscriptions.

A request carries a list of filters, any of which may match (OR); each filter
is a comma-separated list of selectors that must all match (AND). A selector is
a field path (`id`, `labels.foo`, `labels."a.b"`) alone (present) or followed by
`==`, `!=` or `~=` (regular expression) and a value, quoted or not.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyd_proto.errdefs import InvalidArgument

# A record adapts itself to filters with a getter: field path → (value, present).
Getter = Callable[[list[str]], tuple[str, bool]]


@dataclass(frozen=True)
class Selector:
    path: tuple[str, ...]
    op: str  # "" (present), "==", "!=", "~="
    value: str
    regex: re.Pattern[str] | None = None

    def match(self, get: Getter) -> bool:
        value, present = get(list(self.path))
        if self.op == "":
            return present
        if self.op == "==":
            return present and value == self.value
        if self.op == "!=":
            return not present or value != self.value
        assert self.regex is not None
        return present and self.regex.search(value) is not None


@dataclass(frozen=True)
class Filter:
    """Any of `alternatives` (each a list of selectors that must all hold)."""

    alternatives: tuple[tuple[Selector, ...], ...]

    def match(self, get: Getter) -> bool:
        if not self.alternatives:
            return True
        return any(all(s.match(get) for s in alt) for alt in self.alternatives)


def _split(text: str, sep: str) -> list[str]:
    """Split on `sep` outside double quotes and /regex/ slashes."""
    parts: list[str] = []
    buf: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            buf.append(c)
            if c == "\\" and i + 1 < len(text):
                buf.append(text[i + 1])
                i += 1
            elif c == quote:
                quote = ""
        elif c == '"':
            quote = c
            buf.append(c)
        elif c == sep:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(c)
        i += 1
    if quote:
        raise InvalidArgument(f"filter {text!r}: unterminated quote")
    parts.append("".join(buf))
    return parts


def _unquote(s: str) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"/|":
        return s[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return s


_OPS = re.compile(r"(==|!=|~=)")


def parse_selector(text: str) -> Selector:
    m = _OPS.search(text)
    # an operator inside a quoted field path is not an operator
    while m and text[:m.start()].count('"') % 2:
        m = _OPS.search(text, m.end())
    raw_path, op, value = (text, "", "") if not m else (
        text[:m.start()], m.group(1), text[m.end():])
    fields = [_unquote(f) for f in _split(raw_path.strip(), ".")]
    if not fields or any(not f or not re.fullmatch(r"[^\s]+", f) for f in fields):
        raise InvalidArgument(f"filter {text!r}: invalid field path")
    if op and not value.strip():
        raise InvalidArgument(f"filter {text!r}: missing value")
    value = _unquote(value)
    regex = None
    if op == "~=":
        try:
            regex = re.compile(value)
        except re.error as e:
            raise InvalidArgument(f"filter {text!r}: bad regular expression: {e}") from e
    return Selector(tuple(fields), op, value, regex)


def parse(filters: Sequence[str]) -> Filter:
    """Parse a request's filters; InvalidArgument on a syntax error."""
    alts: list[tuple[Selector, ...]] = []
    for f in filters:
        if not f.strip():
            continue
        alts.append(tuple(parse_selector(s) for s in _split(f, ",") if s.strip()))
    return Filter(tuple(alts))


def labels_getter(fields: dict[str, str], labels: dict[str, str]) -> Getter:
    """A getter over plain fields and a `labels` map, the common case."""
    def get(path: list[str]) -> tuple[str, bool]:
        if not path:
            return "", False
        if path[0] == "labels":
            if len(path) == 1:
                return "", bool(labels)
            key = ".".join(path[1:])
            return labels.get(key, ""), key in labels
        key = ".".join(path)  # nested fields such as runtime.name are flat keys here
        if key in fields:
            v = fields[key]
            return v, v != ""
        return "", False
    return get

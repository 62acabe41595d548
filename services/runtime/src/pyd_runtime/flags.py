"""A small argparse-compatible flag parser for pyd-runc's commands.

argparse imports ``re`` and ``gettext`` and builds formatters as flags are declared; on a
container start that was a tenth of runc's whole run. Commands declare their flags with
the same ``add_argument`` calls argparse takes (the subset used here: long and short
names, ``store_true``, ``append``, ``type``, ``default``, ``dest``, ``choices``,
``metavar``, positionals with ``nargs`` ``?`` or ``REMAINDER``) and get a namespace
back. Like urfave/cli (runc's parser), a long flag may be written with one dash.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TextIO

REMAINDER = "..."


class Namespace:
    """Parsed values as attributes."""

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


class UsageError(Exception):
    """The command line does not match the command's flags."""


class _Arg:
    __slots__ = ("action", "choices", "default", "dest", "help", "metavar", "names", "nargs",
                 "type")

    def __init__(self, names: tuple[str, ...], action: str, default: Any, type_: Any,
                 dest: str, help_: str, choices: Any, metavar: str | None,
                 nargs: Any) -> None:
        self.names = names
        self.action = action
        self.default = default
        self.type = type_
        self.dest = dest
        self.help = help_
        self.choices = choices
        self.metavar = metavar
        self.nargs = nargs


class FlagParser:
    """``ArgumentParser`` for the subset above; ``error`` raises UsageError."""

    def __init__(self, prog: str = "", description: str = "", **_: Any) -> None:
        self.prog = prog
        self.description = description
        self._options: dict[str, _Arg] = {}
        self._ordered: list[_Arg] = []
        self._positionals: list[_Arg] = []

    def add_argument(self, *names: str, action: str = "store", default: Any = None,
                     type: Callable[[str], Any] | None = None, dest: str | None = None,
                     help: str = "", choices: Any = None, metavar: str | None = None,
                     nargs: Any = None, required: bool = False) -> None:
        """Declare a flag (names start with '-') or a positional."""
        del required
        if names[0].startswith("-"):
            long = [n for n in names if n.startswith("--")]
            d = dest or (long[0] if long else names[0]).lstrip("-").replace("-", "_")
            if action == "store_true" and default is None:
                default = False
            a = _Arg(names, action, default, type, d, help, choices, metavar, nargs)
            for n in names:
                self._options[n.lstrip("-")] = a
            self._ordered.append(a)
        else:
            self._positionals.append(_Arg(names, "store", default, type, dest or names[0],
                                          help, choices, metavar, nargs))

    def error(self, message: str) -> None:
        """Raise the usage error."""
        raise UsageError(f"{self.prog}: {message}")

    def _value(self, a: _Arg, raw: str) -> Any:
        v: Any = raw
        if a.type is not None:
            try:
                v = a.type(raw)
            except ValueError:
                self.error(f"invalid value {raw!r} for {a.names[0]}")
        if a.choices is not None and v not in a.choices:
            self.error(f"invalid choice {raw!r} for {a.names[0]} "
                       f"(choose from {', '.join(map(str, a.choices))})")
        return v

    def parse_args(self, argv: list[str]) -> Namespace:
        """Parse ``argv``; -h/--help prints help and exits 0."""
        values: dict[str, Any] = {}
        for a in self._ordered:
            values[a.dest] = list(a.default) if a.action == "append" else a.default
        pos: list[str] = []
        rest: list[str] | None = None
        remainder_at = next((i for i, a in enumerate(self._positionals)
                             if a.nargs == REMAINDER), None)
        i = 0
        only_pos = False
        while i < len(argv):
            tok = argv[i]
            i += 1
            if remainder_at is not None and len(pos) == remainder_at and \
                    (only_pos or not tok.startswith("-") or tok == "-"):
                rest = argv[i - 1:]
                break
            if only_pos or not tok.startswith("-") or tok == "-" or _is_number(tok):
                pos.append(tok)
                continue
            if tok == "--":
                only_pos = True
                continue
            name, eq, val = tok.lstrip("-").partition("=")
            if name in ("h", "help"):
                sys.stdout.write(self.format_help())
                raise SystemExit(0)
            opt = self._options.get(name)
            if opt is None:
                raise UsageError(f"{self.prog}: flag provided but not defined: "
                                 f"{tok.split('=')[0]}")
            a = opt
            if a.action == "store_true":
                if eq and val.lower() not in ("true", "1"):
                    values[a.dest] = False
                else:
                    values[a.dest] = True
                continue
            if not eq:
                if i >= len(argv):
                    self.error(f"flag needs an argument: {tok}")
                val = argv[i]
                i += 1
            v = self._value(a, val)
            if a.action == "append":
                values[a.dest].append(v)
            else:
                values[a.dest] = v
        if remainder_at is not None and rest is None:
            rest = []
        fixed = [a for a in self._positionals if a.nargs != REMAINDER]
        for a in fixed:
            if pos:
                values[a.dest] = self._value(a, pos.pop(0))
            elif a.nargs == "?":
                values[a.dest] = a.default
            else:
                self.error(f"missing argument: <{a.metavar or a.dest}>")
        if pos:
            self.error(f"unexpected argument: {pos[0]}")
        if remainder_at is not None:
            values[self._positionals[remainder_at].dest] = rest
        return Namespace(**values)

    def format_usage(self) -> str:
        """One usage line."""
        parts = [f"usage: {self.prog}", "[command options]"] if self._ordered else \
            [f"usage: {self.prog}"]
        for a in self._positionals:
            m = a.metavar or a.dest
            parts.append(f"[{m} ...]" if a.nargs == REMAINDER else
                         f"[{m}]" if a.nargs == "?" else f"<{m}>")
        return " ".join(parts) + "\n"

    def print_usage(self, file: TextIO | None = None) -> None:
        """Write the usage line (stderr by default)."""
        (file or sys.stderr).write(self.format_usage())

    def format_help(self) -> str:
        """Usage, description and the options, one per line."""
        out = [self.format_usage()]
        if self.description:
            out.append(f"\n{self.description}\n")
        if self._ordered:
            out.append("\noptions:\n")
            for a in self._ordered:
                names = ", ".join(a.names)
                if a.action != "store_true":
                    names += f" {a.metavar or 'value'}"
                out.append(f"  {names:<28} {a.help}\n")
        return "".join(out)


def _is_number(tok: str) -> bool:
    try:
        float(tok)
    except ValueError:
        return False
    return True

"""Client-side parsing of flag values, as docker/cli's `opts/` package does it.

Each parser is plain Python (no click, no grpc) and raises `OptError` with
docker's exact wording; `FlagType` turns that into the flag error docker prints
(`invalid argument "X" for "-m, --memory" flag: ...`, exit 125).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


class OptError(ValueError):
    """A flag value docker would refuse; the message is docker's."""


class FlagValueError(click.BadParameter):
    """A bad flag value, reported in cobra's words (main.py exits 125 for it)."""

    def __init__(self, message: str, param: click.Parameter | None = None) -> None:
        super().__init__(message, param=param)
        self.docker_message = message

    def format_message(self) -> str:
        return self.docker_message


def flag_name(param: click.Parameter | None) -> str:
    """cobra's "-m, --memory" (shorthand first) or "--cpus"."""
    if param is None:
        return ""
    opts = sorted(getattr(param, "opts", []), key=lambda o: (o.startswith("--"), o))
    return ", ".join(opts)


class FlagType(click.ParamType[Any, Any]):
    """A click type whose conversion is a docker `opts` parser."""

    def __init__(self, name: str, parse: Callable[[str], Any]) -> None:
        self.name = name
        self._parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self._parse(value)
        except OptError as err:
            raise FlagValueError(
                f'invalid argument "{value}" for "{flag_name(param)}" flag: {err}', param
            ) from None

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return self.name

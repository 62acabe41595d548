"""click groups whose subcommands are imported only when they run (click's LazyGroup).

`pyd --help` lists every command from the table below without importing one, and
`pyd version` imports only the version command.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, NamedTuple

import click

SECTIONS = ("Common Commands", "Management Commands", "Commands")


class LazyCommand(NamedTuple):
    """Where a subcommand lives ("package.module:attr"), its one-line help, its help section."""

    target: str
    help: str
    section: str = "Commands"


class LazyGroup(click.Group):
    """A click group that resolves `lazy_subcommands` on first use."""

    def __init__(
        self, *args: Any, lazy_subcommands: Mapping[str, LazyCommand] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands: dict[str, LazyCommand] = dict(lazy_subcommands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_subcommands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_subcommands:
            return self._load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def _load(self, cmd_name: str) -> click.Command:
        module_name, attr = self.lazy_subcommands[cmd_name].target.split(":")
        cmd = getattr(importlib.import_module(module_name), attr)
        if not isinstance(cmd, click.Command):
            raise TypeError(f"{module_name}:{attr} is not a click command")
        # Cache it so a second lookup is a dict hit (aliases keep their own name).
        self.commands[cmd_name] = cmd
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Docker's help layout, from the table only: no command module is imported."""
        rows: dict[str, list[tuple[str, str]]] = {s: [] for s in SECTIONS}
        for name in self.list_commands(ctx):
            lazy = self.lazy_subcommands.get(name)
            if lazy is not None:
                rows.setdefault(lazy.section, []).append((name, lazy.help))
                continue
            cmd = self.commands.get(name)
            if cmd is not None and not cmd.hidden:
                rows["Commands"].append((name, cmd.get_short_help_str(limit=80)))
        for section, entries in rows.items():
            if entries:
                with formatter.section(section):
                    formatter.write_dl(entries)

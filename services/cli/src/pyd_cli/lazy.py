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
        self,
        *args: Any,
        lazy_subcommands: Mapping[str, LazyCommand] | None = None,
        aliases: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands: dict[str, LazyCommand] = dict(lazy_subcommands or {})
        # Other names a command answers to (docker's `container list`), hidden from help.
        self.aliases: dict[str, str] = dict(aliases or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_subcommands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd_name = self.aliases.get(cmd_name, cmd_name)
        if cmd_name in self.lazy_subcommands:
            return self._load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def _load(self, cmd_name: str) -> click.Command:
        module_name, attr = self.lazy_subcommands[cmd_name].target.split(":")
        cmd = getattr(importlib.import_module(module_name), attr)
        if not isinstance(cmd, click.Command):
            raise TypeError(f"{module_name}:{attr} is not a click command")
        _attach_context_to_usage_errors(cmd)
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


_TRUE = ("1", "t", "T", "true", "TRUE", "True")
_FALSE = ("0", "f", "F", "false", "FALSE", "False")


def _bool_values(cmd: click.Command, args: list[str]) -> list[str]:
    """pflag lets a boolean flag take a value (`--rm=false`, `--privileged=true`);
    click does not. Rewrite those tokens: `=true` → the flag, `=false` → nothing.
    Only options before the first positional argument or `--` are looked at;
    `=false` on a flag that defaults to true becomes its `--no-...` form."""
    flags = {
        opt
        for p in cmd.params
        if isinstance(p, click.Option) and p.is_flag and not p.count and p.flag_value is not False
        for opt in p.opts
        if opt.startswith("--")
    }
    if not flags:
        return args
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--" or not arg.startswith("-"):
            out.extend(args[i:])
            break
        name, sep, value = arg.partition("=")
        if sep and name in flags:
            if value in _TRUE:
                out.append(name)
            elif value in _FALSE:
                # a flag that defaults to true has an off switch to say so
                param = next(p for p in cmd.params if name in getattr(p, "opts", []))
                out.extend(getattr(param, "secondary_opts", [])[:1])
            else:
                from pyd_cli.opts import FlagValueError

                param = next(p for p in cmd.params if name in getattr(p, "opts", []))
                raise FlagValueError(
                    f'invalid argument "{value}" for "{name}" flag: strconv.ParseBool: '
                    f'parsing "{value}": invalid syntax',
                    param,
                )
            continue
        out.append(arg)
    return out


def _attach_context_to_usage_errors(cmd: click.Command) -> None:
    """click's option parser raises some usage errors (a flag without its value)
    without a context; give them the command's, so the hint names the command."""
    if getattr(cmd, "_pyd_ctx_wrapped", False):
        return
    original = cmd.parse_args

    def parse_args(ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return original(ctx, _bool_values(cmd, args))
        except click.UsageError as err:
            if err.ctx is None:
                err.ctx = ctx
            raise

    cmd.parse_args = parse_args  # type: ignore[method-assign]
    cmd._pyd_ctx_wrapped = True  # type: ignore[attr-defined]

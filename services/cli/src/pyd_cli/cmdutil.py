"""What many commands share: docker's argument-count errors, "one line per
argument, continue past errors", stdout as bytes, the prune confirmation."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import click

from pyd_cli.context import Cli
from pyd_cli.errors import EXIT_ERROR, CliError

T = TypeVar("T")

# Options shared by commands that take a command line after their arguments.
PASSTHROUGH: dict[str, Any] = {
    "help_option_names": ["--help"],
    "allow_interspersed_args": False,
    "ignore_unknown_options": False,
}


def _noun(n: int) -> str:
    return "argument" if n == 1 else "arguments"


def require_args(
    ctx: click.Context,
    args: Sequence[Any],
    *,
    min: int | None = None,
    max: int | None = None,
    exact: int | None = None,
) -> None:
    """docker/cli's RequiresMinArgs/ExactArgs/RequiresMaxArgs/RequiresRangeArgs."""
    n = len(args)
    path = ctx.command_path
    if exact is not None and n != exact:
        raise click.UsageError(f'"{path}" requires exactly {exact} {_noun(exact)}.', ctx)
    if min is not None and max is not None and not (min <= n <= max):
        raise click.UsageError(
            f'"{path}" requires at least {min} and at most {max} {_noun(max)}.', ctx
        )
    if min is not None and max is None and n < min:
        raise click.UsageError(f'"{path}" requires at least {min} {_noun(min)}.', ctx)
    if max is not None and min is None and n > max:
        raise click.UsageError(f'"{path}" accepts at most {max} {_noun(max)}.', ctx)


def usage_error(ctx: click.Context, message: str, status: int = 125) -> CliError:
    """docker's reportError(..., withHelp=true): `pyd: MSG.` + the help hint."""
    text = message.rstrip(".") + "."
    return CliError(f"pyd: {text}\nSee '{ctx.command_path} --help'.", status)


def error_text(cli: Cli, exc: Exception) -> str:
    """The one-line message main() would print for `exc`."""
    from pyd_cli.client import is_rpc_error, map_rpc_error

    if isinstance(exc, CliError):
        return exc.message
    if is_rpc_error(exc):
        return map_rpc_error(exc, cli.host).message
    raise exc


def rpc_code(exc: BaseException) -> str:
    """The gRPC status code name of an RpcError ("NOT_FOUND"), or ""."""
    from pyd_cli.client import is_rpc_error

    if is_rpc_error(exc):
        code = exc.code()  # type: ignore[attr-defined]
        return str(code.name)
    return ""


def for_each(
    cli: Cli,
    names: Iterable[T],
    action: Callable[[T], Any],
    *,
    echo: bool = True,
    status: int = EXIT_ERROR,
    parallel: bool = False,
    ignore_not_found: bool = False,
) -> None:
    """Run `action` on every name; print each success (docker echoes the argument),
    collect the errors, and fail with all of them at the end.

    `parallel` runs the calls at once (docker's parallelOperation) but reports in
    argument order; `ignore_not_found` prints NOT_FOUND errors without failing
    (`rm -f` of a container that is already gone).
    """
    items = list(names)
    outcomes: list[tuple[bool, Any]] = []
    if parallel and len(items) > 1:
        from concurrent.futures import ThreadPoolExecutor

        def attempt(name: T) -> tuple[bool, Any]:
            try:
                return True, action(name)
            except Exception as exc:
                return False, exc

        with ThreadPoolExecutor(max_workers=min(len(items), 50)) as pool:
            outcomes = list(pool.map(attempt, items))
    else:
        for name in items:
            try:
                outcomes.append((True, action(name)))
            except Exception as exc:
                outcomes.append((False, exc))
    errors: list[str] = []
    for name, (ok, value) in zip(items, outcomes, strict=True):
        if not ok:
            text = error_text(cli, value)
            if ignore_not_found and rpc_code(value) == "NOT_FOUND":
                click.echo(text, err=True)
            else:
                errors.append(text)
            continue
        if echo and value is not None:
            click.echo(value if isinstance(value, str) else str(name))
        elif echo:
            click.echo(str(name))
    if errors:
        raise CliError("\n".join(errors), status)


def write_out(data: bytes) -> None:
    """Raw bytes to stdout (container output is not necessarily text)."""
    buf = getattr(sys.stdout, "buffer", None)
    if buf is not None:
        buf.write(data)
        buf.flush()
    else:
        sys.stdout.write(data.decode("utf-8", "replace"))
        sys.stdout.flush()


def write_err(data: bytes) -> None:
    buf = getattr(sys.stderr, "buffer", None)
    if buf is not None:
        buf.write(data)
        buf.flush()
    else:
        sys.stderr.write(data.decode("utf-8", "replace"))
        sys.stderr.flush()


def confirm(message: str) -> bool:
    """docker's PromptForConfirmation: `MSG\\nAre you sure you want to continue? [y/N] `."""
    sys.stdout.write(f"{message}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def print_prune(kind: str, deleted: Sequence[str], space: int | None) -> None:
    """`Deleted Containers:` list + `Total reclaimed space:` as docker prints them."""
    from pyd_cli.formatting import human_size

    if deleted:
        click.echo(f"Deleted {kind}:\n" + "".join(f"{d}\n" for d in deleted))
    if space is not None:
        click.echo(f"Total reclaimed space: {human_size(space)}")


def timestamp_seconds(ts: Any) -> float:
    """A google.protobuf.Timestamp → float seconds (0 when unset)."""
    return float(ts.seconds) + float(ts.nanos) / 1e9


def first_message(stream: Any) -> Any:
    """The next message of a gRPC response stream (typed loosely: the stubs say
    CallIterator, which mypy does not see as an iterator)."""
    return next(iter(stream))


def cancel(call: Any) -> None:
    """Cancel a gRPC call (Ctrl-C, detach, or an error on our side)."""
    call.cancel()


def filter_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """`-f/--filter key=value`, repeatable."""
    return _filter_option(("-f", "--filter"))(f)


def prune_filter_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """`--filter key=value` for prune commands (their -f is --force)."""
    return _filter_option(("--filter",))(f)


def _filter_option(names: tuple[str, ...]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    from pyd_cli.opts import FlagType
    from pyd_cli.opts.filters import parse_filter

    return click.option(
        *names,
        "filters",
        multiple=True,
        type=FlagType("filter", parse_filter),
        help="Filter output based on conditions provided",
    )


def filters_proto(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """--filter pairs → map<string, FilterValues> keyword value for a request."""
    from pyd_cli.opts.filters import to_filters
    from pyd_proto.pyd.dockerd.v1 import types_pb2

    return {k: types_pb2.FilterValues(values=v) for k, v in to_filters(list(pairs)).items()}

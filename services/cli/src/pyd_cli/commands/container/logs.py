"""`pyd logs`: a container's output (Containers.Logs stream of LogFrames).

stdout frames go to stdout, stderr frames to stderr, as docker demultiplexes
them; `-t` prefixes RFC 3339 (fixed 9-digit) timestamps, `--details` the log
attributes, both the way moby's log reader prints them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

import click

from pyd_cli.cmdutil import require_args, write_err, write_out
from pyd_cli.context import Cli
from pyd_cli.errors import CliError
from pyd_cli.opts import OptError
from pyd_cli.opts.timetypes import get_timestamp


def rfc3339_nano_fixed(ts: Any) -> str:
    """jsonmessage.RFC3339NanoFixed in UTC: 2024-05-01T10:00:00.000000000Z."""
    base = datetime.fromtimestamp(ts.seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{ts.nanos:09d}Z"


def attrs_prefix(attrs: dict[str, str]) -> bytes:
    """moby's attrsByteSlice: sorted k=v, query-escaped, comma-joined, then a space."""
    items = ",".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in sorted(attrs.items()))
    return items.encode() + b" "


@click.command("logs", short_help="Fetch the logs of a container")
@click.option("--details", is_flag=True, help="Show extra details provided to logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option(
    "--since",
    default="",
    help='Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") '
    'or relative (e.g. "42m" for 42 minutes)',
)
@click.option(
    "-n", "--tail", default="all", help="Number of lines to show from the end of the logs"
)
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.option("--until", default="", help="Show logs before a timestamp or relative time")
@click.argument("args", nargs=-1, metavar="CONTAINER")
@click.pass_context
def logs(
    ctx: click.Context,
    details: bool,
    follow: bool,
    since: str,
    tail: str,
    timestamps: bool,
    until: str,
    args: tuple[str, ...],
) -> None:
    """Fetch the logs of a container."""
    require_args(ctx, args, exact=1)
    run_logs(
        ctx.obj,
        args[0],
        details=details,
        follow=follow,
        since=since,
        tail=tail,
        timestamps=timestamps,
        until=until,
    )


def run_logs(
    cli: Cli,
    container: str,
    *,
    details: bool = False,
    follow: bool = False,
    since: str = "",
    tail: str = "all",
    timestamps: bool = False,
    until: str = "",
) -> None:
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb
    from pyd_proto.pyd.dockerd.v1 import types_pb2

    request = pb.ContainerLogsRequest(
        id=container,
        follow=follow,
        stdout=True,
        stderr=True,
        timestamps=timestamps,
        tail=tail,
        details=details,
    )
    for flag, value, field in (("since", since, request.since), ("until", until, request.until)):
        if value:
            try:
                seconds, nanos = get_timestamp(value)
            except OptError as err:
                raise CliError(f'invalid value for "{flag}": {err}') from None
            field.seconds, field.nanos = seconds, nanos
    for frame in cli.client().containers.Logs(request):
        data = frame.data
        if details:
            data = attrs_prefix(dict(frame.attrs)) + data
        if timestamps and frame.HasField("timestamp"):
            data = rfc3339_nano_fixed(frame.timestamp).encode() + b" " + data
        if frame.stream in (types_pb2.STD_STREAM_STDERR, types_pb2.STD_STREAM_SYSTEM):
            write_err(data)
        else:
            write_out(data)

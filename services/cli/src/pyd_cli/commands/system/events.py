"""`pyd events`: the daemon's event stream (System.Events), docker's line format
`TIME TYPE ACTION ID (k=v, ...)` or --format templates."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import click

from pyd_cli.cmdutil import filter_option, filters_proto
from pyd_cli.context import Cli
from pyd_cli.errors import CliError
from pyd_cli.formatting import Template, go_json, to_docker_dict
from pyd_cli.opts import OptError
from pyd_cli.opts.timetypes import get_timestamp


def fixed_time(nanos: int) -> str:
    """jsonmessage.RFC3339NanoFixed in local time ("Z" when local is UTC)."""
    dt = datetime.fromtimestamp(nanos // 1_000_000_000).astimezone()
    offset = dt.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        zone = "Z"
    else:
        total = int(offset.total_seconds())
        sign = "+" if total >= 0 else "-"
        zone = f"{sign}{abs(total) // 3600:02d}:{abs(total) % 3600 // 60:02d}"
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos % 1_000_000_000:09d}" + zone


def pretty(event: Any) -> str:
    """docker's prettyPrintEvent."""
    parts = []
    if event.time_nano:
        parts.append(fixed_time(event.time_nano) + " ")
    elif event.time:
        parts.append(fixed_time(event.time * 1_000_000_000) + " ")
    parts.append(f"{event.type} {event.action} {event.actor.id}")
    attrs = event.actor.attributes
    if attrs:
        parts.append(" (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")")
    return "".join(parts)


@click.command("events", short_help="Get real time events from the server")
@filter_option
@click.option("--format", "fmt", default="", help="Format output using a custom template")
@click.option("--since", default="", help="Show all events created since timestamp")
@click.option("--until", default="", help="Stream events until this timestamp")
@click.pass_obj
def events(
    cli: Cli, filters: tuple[tuple[str, str], ...], fmt: str, since: str, until: str
) -> None:
    """Get real time events from the server."""
    from pyd_proto.pyd.dockerd.v1 import system_pb2

    request = system_pb2.EventsRequest(filters=filters_proto(filters))
    for flag, value, field in (("since", since, request.since), ("until", until, request.until)):
        if value:
            try:
                field.seconds, field.nanos = get_timestamp(value)
            except OptError as err:
                raise CliError(f'invalid value for "{flag}": {err}') from None
    tmpl = None
    if fmt and fmt != "json":
        tmpl = Template(fmt.replace("\\t", "\t").replace("\\n", "\n"))
    try:
        for event in cli.client().system.Events(request):
            if fmt == "json":
                line = go_json(to_docker_dict(event))
            elif tmpl is not None:
                line = tmpl.execute(to_docker_dict(event))
            else:
                line = pretty(event)
            click.echo(line)
    except KeyboardInterrupt:
        return

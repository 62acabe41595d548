"""`pyd ps`: list containers (Containers.List), docker's columns and --format.

Rows are `ContainerContext` objects, so `--format '{{.ID}} {{.Names}}'` reads the
same fields docker's formatter.ContainerContext offers, and `--format json`
prints the same keys.
"""

from __future__ import annotations

import time
from typing import Any

import click

from pyd_cli.cmdutil import filter_option, filters_proto, require_args, timestamp_seconds
from pyd_cli.context import Cli
from pyd_cli.formatting import (
    display_ports,
    ellipsis,
    format_output,
    go_quote,
    human_duration,
    human_size_precision,
    truncate_id,
)

DEFAULT_TABLE = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)
HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Names": "NAMES",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
    "LocalVolumes": "LOCAL VOLUMES",
}


class ContainerContext:
    """docker's formatter.ContainerContext over a ContainerSummary."""

    FIELDS = (
        "Command",
        "CreatedAt",
        "ID",
        "Image",
        "Labels",
        "LocalVolumes",
        "Mounts",
        "Names",
        "Networks",
        "Ports",
        "RunningFor",
        "Size",
        "State",
        "Status",
    )

    def __init__(self, c: Any, *, trunc: bool, now: float | None = None) -> None:
        self._c = c
        self._trunc = trunc
        self._now = time.time() if now is None else now

    @property
    def ID(self) -> str:
        return truncate_id(self._c.id) if self._trunc else self._c.id

    @property
    def Names(self) -> str:
        names = [n.lstrip("/") for n in self._c.names]
        if self._trunc:
            names = [n for n in names if "/" not in n]
        return ",".join(names)

    @property
    def Image(self) -> str:
        image = self._c.image
        if not image:
            return "<no image>"
        if self._trunc:
            if self._c.image_id and truncate_id(self._c.image_id) == truncate_id(image):
                return truncate_id(image)
            if "@" in image:
                return str(image).split("@", 1)[0]
        return str(image)

    @property
    def Command(self) -> str:
        command = self._c.command
        if self._trunc:
            command = ellipsis(command, 20)
        return go_quote(command)

    @property
    def CreatedAt(self) -> str:
        import datetime

        ts = timestamp_seconds(self._c.created)
        dt = datetime.datetime.fromtimestamp(ts).astimezone()
        return dt.strftime("%Y-%m-%d %H:%M:%S %z %Z")

    @property
    def RunningFor(self) -> str:
        return human_duration(self._now - timestamp_seconds(self._c.created)) + " ago"

    @property
    def Ports(self) -> str:
        return display_ports((p.ip, p.private_port, p.public_port, p.type) for p in self._c.ports)

    @property
    def State(self) -> str:
        return str(self._c.state)

    @property
    def Status(self) -> str:
        return str(self._c.status)

    @property
    def Size(self) -> str:
        srw = human_size_precision(float(self._c.size_rw), 3)
        if self._c.size_root_fs > 0:
            return f"{srw} (virtual {human_size_precision(float(self._c.size_root_fs), 3)})"
        return srw

    @property
    def Labels(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self._c.labels.items()))

    @property
    def Mounts(self) -> str:
        names = []
        for m in self._c.mounts:
            name = m.name or m.source
            if self._trunc:
                name = ellipsis(name, 15)
            names.append(name)
        return ",".join(names)

    @property
    def LocalVolumes(self) -> str:
        return str(sum(1 for m in self._c.mounts if m.driver == "local"))

    @property
    def Networks(self) -> str:
        return ",".join(sorted(self._c.network_settings.networks.keys()))

    def to_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.FIELDS}


@click.command("ps", short_help="List containers")
@click.option(
    "-a", "--all", "show_all", is_flag=True, help="Show all containers (default shows just running)"
)
@filter_option
@click.option("--format", "fmt", default="", help="Format output using a custom template")
@click.option(
    "-n",
    "--last",
    type=int,
    default=-1,
    help="Show n last created containers (includes all states)",
)
@click.option(
    "-l", "--latest", is_flag=True, help="Show the latest created container (includes all states)"
)
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes")
@click.argument("args", nargs=-1, metavar="")
@click.pass_context
def ps(
    ctx: click.Context,
    show_all: bool,
    filters: tuple[tuple[str, str], ...],
    fmt: str,
    last: int,
    latest: bool,
    no_trunc: bool,
    quiet: bool,
    size: bool,
    args: tuple[str, ...],
) -> None:
    """List containers."""
    require_args(ctx, args, exact=0)
    run_ps(
        ctx.obj,
        show_all=show_all,
        filters=filters,
        fmt=fmt,
        last=last,
        latest=latest,
        no_trunc=no_trunc,
        quiet=quiet,
        size=size,
    )


def run_ps(
    cli: Cli,
    *,
    show_all: bool = False,
    filters: tuple[tuple[str, str], ...] = (),
    fmt: str = "",
    last: int = -1,
    latest: bool = False,
    no_trunc: bool = False,
    quiet: bool = False,
    size: bool = False,
) -> None:
    """Containers.List → the table (or -q ids, or --format)."""
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    if latest:
        last = 1
    request = pb.ListContainersRequest(
        all=show_all or last > 0,
        limit=last if last > 0 else 0,
        latest=latest,
        size=size or ("{{.Size}}" in fmt),
        filters=filters_proto(filters),
    )
    resp = cli.client().containers.List(request)
    now = time.time()
    rows = [ContainerContext(c, trunc=not no_trunc, now=now) for c in resp.containers]
    if quiet and fmt in ("", "table"):
        fmt = "{{.ID}}"
    default = DEFAULT_TABLE + ("\t{{.Size}}" if size else "")
    click.echo(format_output(fmt, rows, default_table=default, headers=HEADERS), nl=False)

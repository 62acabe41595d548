"""`pyd volume create|ls|rm|inspect|prune` (the Volumes service)."""

from __future__ import annotations

from typing import Any

import click

from pyd_cli.cmdutil import (
    confirm,
    filter_option,
    filters_proto,
    for_each,
    print_prune,
    prune_filter_option,
    require_args,
)
from pyd_cli.context import Cli
from pyd_cli.errors import CliError
from pyd_cli.formatting import format_output
from pyd_cli.opts import FlagType
from pyd_cli.opts.env import parse_key_value, parse_labels


@click.command("create", short_help="Create a volume")
@click.option("-d", "--driver", default="local", help="Specify volume driver name")
@click.option(
    "--label",
    multiple=True,
    type=FlagType("list", parse_key_value),
    help="Set metadata for a volume",
)
@click.option("--name", "name_flag", default="", help="Specify volume name", hidden=True)
@click.option(
    "-o",
    "--opt",
    multiple=True,
    type=FlagType("map", parse_key_value),
    help="Set driver specific options",
)
@click.argument("args", nargs=-1, metavar="[VOLUME]")
@click.pass_context
def create(
    ctx: click.Context,
    driver: str,
    label: tuple[str, ...],
    name_flag: str,
    opt: tuple[str, ...],
    args: tuple[str, ...],
) -> None:
    """Create a volume."""
    from pyd_proto.pyd.dockerd.v1 import volumes_pb2

    require_args(ctx, args, max=1)
    cli: Cli = ctx.obj
    name = name_flag
    if args:
        if name_flag and name_flag != args[0]:
            raise CliError(
                "conflicting options: cannot specify a volume-name through both "
                "--name and as a positional arg"
            )
        name = args[0]
    vol = cli.client().volumes.Create(
        volumes_pb2.CreateVolumeRequest(
            name=name,
            driver=driver,
            driver_opts=parse_labels(list(opt)),
            labels=parse_labels(list(label)),
        )
    )
    click.echo(vol.name)


class VolumeContext:
    FIELDS = (
        "Availability",
        "Driver",
        "Group",
        "Labels",
        "Links",
        "Mountpoint",
        "Name",
        "Scope",
        "Size",
        "Status",
    )

    def __init__(self, v: Any) -> None:
        self._v = v

    @property
    def Name(self) -> str:
        return str(self._v.name)

    @property
    def Driver(self) -> str:
        return str(self._v.driver)

    @property
    def Scope(self) -> str:
        return str(self._v.scope)

    @property
    def Mountpoint(self) -> str:
        return str(self._v.mountpoint)

    @property
    def Labels(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self._v.labels.items()))

    @property
    def Links(self) -> str:
        if not self._v.HasField("usage_data") or self._v.usage_data.ref_count < 0:
            return "N/A"
        return str(self._v.usage_data.ref_count)

    @property
    def Size(self) -> str:
        from pyd_cli.formatting import human_size

        if not self._v.HasField("usage_data") or self._v.usage_data.size < 0:
            return "N/A"
        return human_size(float(self._v.usage_data.size))

    @property
    def Group(self) -> str:
        return "N/A"

    @property
    def Availability(self) -> str:
        return "N/A"

    @property
    def Status(self) -> str:
        return "N/A"

    def to_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in self.FIELDS}


@click.command("ls", short_help="List volumes")
@filter_option
@click.option("--format", "fmt", default="", help="Format output using a custom template")
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names")
@click.pass_obj
def ls(cli: Cli, filters: tuple[tuple[str, str], ...], fmt: str, quiet: bool) -> None:
    """List volumes."""
    from pyd_proto.pyd.dockerd.v1 import volumes_pb2

    resp = cli.client().volumes.List(volumes_pb2.ListVolumesRequest(filters=filters_proto(filters)))
    rows = [VolumeContext(v) for v in sorted(resp.volumes, key=lambda v: v.name)]
    if quiet and fmt in ("", "table"):
        fmt = "{{.Name}}"
    click.echo(
        format_output(
            fmt,
            rows,
            default_table="table {{.Driver}}\t{{.Name}}",
            headers={
                "Name": "VOLUME NAME",
                "Driver": "DRIVER",
                "Scope": "SCOPE",
                "Mountpoint": "MOUNTPOINT",
                "Labels": "LABELS",
                "Links": "LINKS",
                "Size": "SIZE",
            },
        ),
        nl=False,
    )
    for warning in resp.warnings:
        click.echo(f"WARNING: {warning}", err=True)


@click.command("rm", short_help="Remove one or more volumes")
@click.option("-f", "--force", is_flag=True, help="Force the removal of one or more volumes")
@click.argument("volumes", nargs=-1, metavar="VOLUME...")
@click.pass_context
def rm(ctx: click.Context, force: bool, volumes: tuple[str, ...]) -> None:
    """Remove one or more volumes."""
    from pyd_proto.pyd.dockerd.v1 import volumes_pb2

    require_args(ctx, volumes, min=1)
    cli: Cli = ctx.obj
    for_each(
        cli,
        volumes,
        lambda n: cli.client().volumes.Remove(volumes_pb2.RemoveVolumeRequest(name=n, force=force)),
    )


@click.command("inspect", short_help="Display detailed information on one or more volumes")
@click.option("-f", "--format", "fmt", default="", help="Format output using a custom template")
@click.argument("volumes", nargs=-1, metavar="VOLUME...")
@click.pass_context
def inspect(ctx: click.Context, fmt: str, volumes: tuple[str, ...]) -> None:
    """Display detailed information on one or more volumes."""
    from pyd_cli.commands.container.inspect import inspect_all, volume_dict

    require_args(ctx, volumes, min=1)
    cli: Cli = ctx.obj

    def get(ref: str) -> dict[str, Any]:
        data = volume_dict(cli, ref)
        if data.get("UsageData") is None:
            data.pop("UsageData", None)
        return data

    inspect_all(cli, volumes, get, fmt)


@click.command("prune", short_help="Remove unused local volumes")
@click.option(
    "-a",
    "--all",
    "prune_all",
    is_flag=True,
    help="Remove all unused volumes, not just anonymous ones",
)
@prune_filter_option
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.pass_obj
def prune(cli: Cli, prune_all: bool, filters: tuple[tuple[str, str], ...], force: bool) -> None:
    """Remove unused local volumes."""
    from pyd_proto.pyd.dockerd.v1 import volumes_pb2

    warning = (
        "WARNING! This will remove all local volumes not used by at least one container."
        if prune_all
        else "WARNING! This will remove anonymous local volumes not used by at least one container."
    )
    if not force and not confirm(warning):
        return
    pairs = list(filters)
    if prune_all:
        pairs.append(("all", "true"))
    resp = cli.client().volumes.Prune(volumes_pb2.PruneVolumesRequest(filters=filters_proto(pairs)))
    print_prune("Volumes", list(resp.volumes_deleted), resp.space_reclaimed)

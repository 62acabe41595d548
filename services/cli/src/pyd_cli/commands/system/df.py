"""`pyd system df` (System.DataUsage) and `pyd system prune` (each Prune RPC in
turn, docker's order and wording)."""

from __future__ import annotations

from typing import Any

import click

from pyd_cli.cmdutil import confirm, filters_proto, print_prune, prune_filter_option
from pyd_cli.commands.container.ps import ContainerContext
from pyd_cli.commands.image.ls import image_rows
from pyd_cli.context import Cli
from pyd_cli.formatting import format_output, human_size


def _reclaimable(reclaim: int, total: int) -> str:
    """docker's "SIZE (PCT%)" (integer percent), the bare size when the total is 0."""
    if total <= 0:
        return human_size(float(reclaim))
    return f"{human_size(float(reclaim))} ({reclaim * 100 // total}%)"


DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
DF_HEADERS = {
    "Type": "TYPE",
    "TotalCount": "TOTAL",
    "Active": "ACTIVE",
    "Size": "SIZE",
    "Reclaimable": "RECLAIMABLE",
}
# docker's formatter/disk_usage.go verbose tables.
IMAGE_TABLE = (
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    "\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}"
)
IMAGE_HEADERS = {
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "ID": "IMAGE ID",
    "CreatedSince": "CREATED",
    "Size": "SIZE",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
    "Containers": "CONTAINERS",
}
CONTAINER_TABLE = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}"
    "\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}"
)
CONTAINER_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "LocalVolumes": "LOCAL VOLUMES",
    "Size": "SIZE",
    "RunningFor": "CREATED",
    "Status": "STATUS",
    "Names": "NAMES",
}
VOLUME_TABLE = "table {{.Name}}\t{{.Links}}\t{{.Size}}"
VOLUME_HEADERS = {"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}
BUILD_CACHE_TABLE = (
    "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}"
    "\t{{.UsageCount}}\t{{.Shared}}"
)
BUILD_CACHE_HEADERS = {
    "ID": "CACHE ID",
    "CacheType": "CACHE TYPE",
    "Size": "SIZE",
    "CreatedSince": "CREATED",
    "LastUsedSince": "LAST USED",
    "UsageCount": "USAGE",
    "Shared": "SHARED",
}
ACTIVE_STATES = ("running", "paused", "restarting")


class _Row:
    def __init__(self, kind: str, total: int, active: int, size: int, reclaimable: str) -> None:
        self.Type = kind
        self.TotalCount = str(total)
        self.Active = str(active)
        self.Size = human_size(float(size))
        self.Reclaimable = reclaimable

    def to_dict(self) -> dict[str, str]:
        return dict(vars(self))


class _ContainerRow(ContainerContext):
    """A container as `system df -v` shows it: the read-write layer's size alone."""

    @property
    def Size(self) -> str:
        return human_size(float(self._c.size_rw))


class _VolumeRow:
    def __init__(self, v: Any) -> None:
        self.Name = str(v.name)
        self.Links = str(v.usage_data.ref_count)
        self.Size = "N/A" if v.usage_data.size < 0 else human_size(float(v.usage_data.size))

    def to_dict(self) -> dict[str, str]:
        return dict(vars(self))


def summary_rows(du: Any) -> list[_Row]:
    """docker's diskUsage*Context rows (Images, Containers, Local Volumes, Build Cache)."""
    images_size = int(du.layers_size)
    used = sum(max(i.size - i.shared_size, 0) for i in du.images if i.containers > 0)
    active = [c for c in du.containers if c.state in ACTIVE_STATES]
    containers_size = sum(c.size_rw for c in du.containers)
    idle = containers_size - sum(c.size_rw for c in active)
    vols = [v.usage_data for v in du.volumes]
    volumes_size = sum(u.size for u in vols if u.size > 0)
    volumes_idle = sum(u.size for u in vols if u.size > 0 and u.ref_count == 0)
    return [
        _Row(
            "Images",
            len(du.images),
            sum(1 for i in du.images if i.containers > 0),
            images_size,
            _reclaimable(max(images_size - used, 0), images_size),
        ),
        _Row(
            "Containers",
            len(du.containers),
            len(active),
            containers_size,
            _reclaimable(idle, containers_size),
        ),
        _Row(
            "Local Volumes",
            len(du.volumes),
            sum(1 for u in vols if u.ref_count > 0),
            volumes_size,
            _reclaimable(volumes_idle, volumes_size),
        ),
        _Row("Build Cache", 0, 0, 0, human_size(0.0)),
    ]


def verbose_text(du: Any, now: float) -> str:
    """docker's `system df -v` layout: one table per kind, each under its title."""
    images = image_rows(list(du.images), trunc=True, digests=False, now=now)
    containers = [_ContainerRow(c, trunc=True, now=now) for c in du.containers]
    volumes = [_VolumeRow(v) for v in du.volumes]
    parts = [
        "Images space usage:\n\n",
        format_output("", images, default_table=IMAGE_TABLE, headers=IMAGE_HEADERS),
        "\nContainers space usage:\n\n",
        format_output("", containers, default_table=CONTAINER_TABLE, headers=CONTAINER_HEADERS),
        "\nLocal Volumes space usage:\n\n",
        format_output("", volumes, default_table=VOLUME_TABLE, headers=VOLUME_HEADERS),
        f"\nBuild cache usage: {human_size(0.0)}\n\n",
        format_output("", [], default_table=BUILD_CACHE_TABLE, headers=BUILD_CACHE_HEADERS),
    ]
    return "".join(parts)


@click.command("df", short_help="Show pyd disk usage")
@click.option("--format", "fmt", default="", help="Format output using a custom template")
@click.option("-v", "--verbose", is_flag=True, help="Show detailed information on space usage")
@click.pass_obj
def df(cli: Cli, fmt: str, verbose: bool) -> None:
    """Show pyd disk usage."""
    import time

    from pyd_proto.pyd.dockerd.v1 import system_pb2

    du = cli.client().system.DataUsage(system_pb2.DataUsageRequest())
    if verbose and not fmt:
        click.echo(verbose_text(du, time.time()), nl=False)
        return
    click.echo(
        format_output(fmt, summary_rows(du), default_table=DF_TABLE, headers=DF_HEADERS),
        nl=False,
    )


@click.command("prune", short_help="Remove unused data")
@click.option(
    "-a", "--all", "prune_all", is_flag=True, help="Remove all unused images not just dangling ones"
)
@prune_filter_option
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.option("--volumes", is_flag=True, help="Prune anonymous volumes")
@click.pass_obj
def prune(
    cli: Cli, prune_all: bool, filters: tuple[tuple[str, str], ...], force: bool, volumes: bool
) -> None:
    """Remove unused data."""
    from pyd_proto.pyd.dockerd.v1 import (
        containers_pb2,
        images_pb2,
        networks_pb2,
        volumes_pb2,
    )

    lines = [
        "WARNING! This will remove:",
        "  - all stopped containers",
        "  - all networks not used by at least one container",
    ]
    if volumes:
        lines.append("  - all anonymous volumes not used by at least one container")
    lines.append(
        "  - all images without at least one container associated to them"
        if prune_all
        else "  - all dangling images"
    )
    lines.append("  - unused build cache\n")
    if not force and not confirm("\n".join(lines)):
        return
    client = cli.client()
    space = 0
    c = client.containers.Prune(
        containers_pb2.PruneContainersRequest(filters=filters_proto(filters))
    )
    space += c.space_reclaimed
    print_prune("Containers", list(c.containers_deleted), None)
    n = client.networks.Prune(networks_pb2.PruneNetworksRequest(filters=filters_proto(filters)))
    print_prune("Networks", list(n.networks_deleted), None)
    if volumes:
        v = client.volumes.Prune(volumes_pb2.PruneVolumesRequest(filters=filters_proto(filters)))
        space += v.space_reclaimed
        print_prune("Volumes", list(v.volumes_deleted), None)
    pairs = [*filters, ("dangling", "false" if prune_all else "true")]
    i = client.images.Prune(images_pb2.PruneImagesRequest(filters=filters_proto(pairs)))
    space += i.space_reclaimed
    deleted = [
        f"untagged: {d.untagged}" if d.untagged else f"deleted: {d.deleted}"
        for d in i.images_deleted
    ]
    print_prune("Images", deleted, None)
    click.echo(f"Total reclaimed space: {human_size(float(space))}")

"""`pyd system df` (System.DataUsage) and `pyd system prune` (each Prune RPC in
turn, docker's order and wording)."""

from __future__ import annotations

import click

from pyd_cli.cmdutil import confirm, filters_proto, print_prune, prune_filter_option
from pyd_cli.context import Cli
from pyd_cli.formatting import format_output, human_size


def _reclaimable(reclaim: int, total: int) -> str:
    if total <= 0:
        return human_size(float(reclaim))
    return f"{human_size(float(reclaim))} ({int(reclaim / total * 100)}%)"


DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"


class _Row:
    def __init__(self, kind: str, total: int, active: int, size: int, reclaim: int) -> None:
        self.Type = kind
        self.TotalCount = str(total)
        self.Active = str(active)
        self.Size = human_size(float(size))
        self.Reclaimable = _reclaimable(reclaim, size)

    def to_dict(self) -> dict[str, str]:
        return dict(vars(self))


@click.command("df", short_help="Show pyd disk usage")
@click.option("--format", "fmt", default="", help="Format output using a custom template")
@click.pass_obj
def df(cli: Cli, fmt: str) -> None:
    """Show pyd disk usage."""
    from pyd_proto.pyd.dockerd.v1 import system_pb2

    du = cli.client().system.DataUsage(system_pb2.DataUsageRequest())
    images_size = du.layers_size or sum(i.size for i in du.images)
    used_images = sum(i.size for i in du.images if i.containers > 0)
    containers_size = sum(c.size_rw for c in du.containers)
    idle_containers = sum(c.size_rw for c in du.containers if c.state != "running")
    volume_sizes = [(v.usage_data.size, v.usage_data.ref_count) for v in du.volumes]
    volumes_size = sum(max(s, 0) for s, _ in volume_sizes)
    rows = [
        _Row(
            "Images",
            len(du.images),
            sum(1 for i in du.images if i.containers > 0),
            images_size,
            max(images_size - used_images, 0),
        ),
        _Row(
            "Containers",
            len(du.containers),
            sum(1 for c in du.containers if c.state == "running"),
            containers_size,
            idle_containers,
        ),
        _Row(
            "Local Volumes",
            len(du.volumes),
            sum(1 for _, r in volume_sizes if r > 0),
            volumes_size,
            sum(max(s, 0) for s, r in volume_sizes if r <= 0),
        ),
        _Row("Build Cache", 0, 0, 0, 0),
    ]
    click.echo(
        format_output(
            fmt,
            rows,
            default_table=DF_TABLE,
            headers={
                "Type": "TYPE",
                "TotalCount": "TOTAL",
                "Active": "ACTIVE",
                "Size": "SIZE",
                "Reclaimable": "RECLAIMABLE",
            },
        ),
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

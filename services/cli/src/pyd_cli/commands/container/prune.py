"""`pyd container prune`: remove all stopped containers (Containers.Prune)."""

from __future__ import annotations

import click

from pyd_cli.cmdutil import confirm, filters_proto, print_prune, prune_filter_option
from pyd_cli.context import Cli


@click.command("prune", short_help="Remove all stopped containers")
@prune_filter_option
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.pass_obj
def prune(cli: Cli, filters: tuple[tuple[str, str], ...], force: bool) -> None:
    """Remove all stopped containers."""
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    if not force and not confirm("WARNING! This will remove all stopped containers."):
        return
    resp = cli.client().containers.Prune(pb.PruneContainersRequest(filters=filters_proto(filters)))
    print_prune("Containers", list(resp.containers_deleted), resp.space_reclaimed)

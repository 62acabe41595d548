"""`pyd top CONTAINER [ps OPTIONS]`: the container's processes (Containers.Top)."""

from __future__ import annotations

import click

from pyd_cli.cmdutil import PASSTHROUGH, require_args
from pyd_cli.context import Cli
from pyd_cli.formatting import tabwrite


@click.command(
    "top", short_help="Display the running processes of a container", context_settings=PASSTHROUGH
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="CONTAINER [ps OPTIONS]")
@click.pass_context
def top(ctx: click.Context, args: tuple[str, ...]) -> None:
    """Display the running processes of a container."""
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    require_args(ctx, args, min=1)
    cli: Cli = ctx.obj
    resp = cli.client().containers.Top(
        pb.TopContainerRequest(id=args[0], ps_args=" ".join(args[1:]))
    )
    lines = ["\t".join(resp.titles)] + ["\t".join(p.values) for p in resp.processes]
    click.echo(tabwrite("".join(line + "\n" for line in lines), minwidth=20, padding=3), nl=False)

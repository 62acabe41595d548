"""`pyd export`: a container's filesystem as a tar archive (Containers.Export)."""

from __future__ import annotations

import os
import sys

import click

from pyd_cli.cmdutil import require_args, write_out
from pyd_cli.context import Cli
from pyd_cli.errors import CliError


@click.command("export", short_help="Export a container's filesystem as a tar archive")
@click.option("-o", "--output", default="", help="Write to a file, instead of STDOUT")
@click.argument("args", nargs=-1, metavar="CONTAINER")
@click.pass_context
def export(ctx: click.Context, output: str, args: tuple[str, ...]) -> None:
    """Export a container's filesystem as a tar archive."""
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    require_args(ctx, args, exact=1)
    cli: Cli = ctx.obj
    if not output and sys.stdout.isatty():
        raise CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    stream = cli.client().containers.Export(pb.ExportContainerRequest(id=args[0]))
    if not output:
        for chunk in stream:
            write_out(chunk.data)
        return
    tmp = f"{output}.pyd-export-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            for chunk in stream:
                fh.write(chunk.data)
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

"""`pyd checkpoint import FILE|-`: load an exported checkpoint (Checkpoints.Import).

First message `header{container, checkpoint_id, checkpoint_dir}`, then the
file's chunks; prints the imported checkpoint's name. Without --container the
checkpoint is standalone, for `pyd create --from-checkpoint NAME`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import click

from pyd_cli.cmdutil import require_args
from pyd_cli.context import Cli
from pyd_cli.errors import CliError
from pyd_cli.opts.env import go_open_error

CHUNK = 256 * 1024


def import_checkpoint(
    cli: Cli, path: str, *, container: str = "", name: str = "", checkpoint_dir: str = ""
) -> Any:
    """Stream FILE (or stdin for "-") to Checkpoints.Import; return the Checkpoint."""
    from pyd_proto.pyd.dockerd.v1 import checkpoints_pb2

    if path == "-":
        fh = sys.stdin.buffer
    else:
        try:
            fh = open(path, "rb")
        except OSError as err:
            raise CliError(go_open_error(path, err)) from None

    def requests() -> Iterator[Any]:
        yield checkpoints_pb2.ImportCheckpointRequest(
            header=checkpoints_pb2.ImportCheckpointHeader(
                container=container, checkpoint_id=name, checkpoint_dir=checkpoint_dir
            )
        )
        while True:
            data = fh.read(CHUNK)
            if not data:
                return
            yield checkpoints_pb2.ImportCheckpointRequest(chunk=data)

    try:
        return cli.client().checkpoints.Import(requests())
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()


@click.command("import", short_help="Import a checkpoint exported with `pyd checkpoint export`")
@click.option("--checkpoint-dir", default="", help="Store the checkpoint in this directory")
@click.option("--container", default="", help="Attach the checkpoint to this container")
@click.option(
    "--name", default="", help="Name the imported checkpoint (default: its exported name)"
)
@click.argument("args", nargs=-1, metavar="FILE|-")
@click.pass_context
def import_(
    ctx: click.Context, checkpoint_dir: str, container: str, name: str, args: tuple[str, ...]
) -> None:
    """Import a checkpoint."""
    require_args(ctx, args, exact=1)
    cli: Cli = ctx.obj
    checkpoint = import_checkpoint(
        cli, args[0], container=container, name=name, checkpoint_dir=checkpoint_dir
    )
    click.echo(checkpoint.name)

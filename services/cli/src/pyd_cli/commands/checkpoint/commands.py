"""`pyd checkpoint create|ls|rm|export` (the Checkpoints service; issue 6).

* create CONTAINER CHECKPOINT: Checkpoints.Create(container, checkpoint_id,
  checkpoint_dir, leave_running, lazy, pre_dump); prints the name, then the
  checkpoint's address when this daemon serves checkpoints (--checkpoint-listen).
* ls CONTAINER: Checkpoints.List(container, checkpoint_dir) → "CHECKPOINT NAME".
* rm CONTAINER CHECKPOINT: Checkpoints.Remove.
* export CONTAINER CHECKPOINT FILE|-: Checkpoints.Export stream → the file.
"""

from __future__ import annotations

import os
from typing import Any

import click

from pyd_cli.cmdutil import require_args, write_out
from pyd_cli.context import Cli
from pyd_cli.errors import CliError
from pyd_cli.formatting import format_output


def _dir_option(f: Any) -> Any:
    return click.option(
        "--checkpoint-dir", default="", help="Use a custom checkpoint storage directory"
    )(f)


@click.command("create", short_help="Create a checkpoint from a running container")
@_dir_option
@click.option("--leave-running", is_flag=True, help="Leave the container running after checkpoint")
@click.option(
    "--lazy",
    is_flag=True,
    help="pyd: freeze the container and serve its memory to a host that restores "
    "it with --lazy-restore (post-copy migration)",
)
@click.option(
    "--pre-dump",
    type=click.IntRange(min=0),
    default=0,
    help="pyd: pre-dump iterations before the final dump",
)
@click.argument("args", nargs=-1, metavar="CONTAINER CHECKPOINT")
@click.pass_context
def create(
    ctx: click.Context,
    checkpoint_dir: str,
    leave_running: bool,
    lazy: bool,
    pre_dump: int,
    args: tuple[str, ...],
) -> None:
    """Create a checkpoint from a running container."""
    from pyd_proto.pyd.dockerd.v1 import checkpoints_pb2

    require_args(ctx, args, exact=2)
    cli: Cli = ctx.obj
    resp = cli.client().checkpoints.Create(
        checkpoints_pb2.CreateCheckpointRequest(
            container=args[0],
            checkpoint_id=args[1],
            checkpoint_dir=checkpoint_dir,
            leave_running=leave_running,
            lazy=lazy,
            pre_dump=pre_dump,
        )
    )
    click.echo(resp.checkpoint.name or args[1])
    address = resp.address or resp.checkpoint.address
    if address:
        click.echo(address)


class CheckpointContext:
    FIELDS = ("Address", "Container", "Created", "Dir", "ImageDigest", "Lazy", "Name", "Size")

    def __init__(self, c: Any) -> None:
        self._c = c

    @property
    def Name(self) -> str:
        return str(self._c.name)

    @property
    def Container(self) -> str:
        return str(self._c.container_name or self._c.container_id)

    @property
    def Created(self) -> str:
        from pyd_cli.formatting import since

        if not self._c.created.seconds:
            return ""
        return since(self._c.created.seconds + self._c.created.nanos / 1e9)

    @property
    def Dir(self) -> str:
        return str(self._c.dir)

    @property
    def ImageDigest(self) -> str:
        return str(self._c.image_digest)

    @property
    def Size(self) -> str:
        from pyd_cli.formatting import human_size_precision

        return human_size_precision(float(self._c.size), 3)

    @property
    def Lazy(self) -> str:
        return "true" if self._c.lazy else "false"

    @property
    def Address(self) -> str:
        return str(self._c.address)

    def to_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in self.FIELDS}


@click.command("ls", short_help="List checkpoints for a container")
@_dir_option
@click.option("--format", "fmt", default="", help="Format output using a custom template")
@click.argument("args", nargs=-1, metavar="[CONTAINER]")
@click.pass_context
def ls(ctx: click.Context, checkpoint_dir: str, fmt: str, args: tuple[str, ...]) -> None:
    """List checkpoints for a container (pyd: every checkpoint when no CONTAINER is given)."""
    from pyd_proto.pyd.dockerd.v1 import checkpoints_pb2

    require_args(ctx, args, max=1)
    cli: Cli = ctx.obj
    resp = cli.client().checkpoints.List(
        checkpoints_pb2.ListCheckpointsRequest(
            container=args[0] if args else "", checkpoint_dir=checkpoint_dir
        )
    )
    rows = [CheckpointContext(c) for c in resp.checkpoints]
    default = "table {{.Name}}" if args else "table {{.Name}}\t{{.Container}}"
    click.echo(
        format_output(
            fmt,
            rows,
            default_table=default,
            headers={
                "Name": "CHECKPOINT NAME",
                "Container": "CONTAINER",
                "Created": "CREATED",
                "Dir": "DIR",
                "ImageDigest": "IMAGE DIGEST",
                "Size": "SIZE",
                "Lazy": "LAZY",
                "Address": "ADDRESS",
            },
        ),
        nl=False,
    )


@click.command("rm", short_help="Remove a checkpoint")
@_dir_option
@click.argument("args", nargs=-1, metavar="[CONTAINER] CHECKPOINT")
@click.pass_context
def rm(ctx: click.Context, checkpoint_dir: str, args: tuple[str, ...]) -> None:
    """Remove a checkpoint (pyd: CHECKPOINT alone names an imported, standalone one)."""
    from pyd_proto.pyd.dockerd.v1 import checkpoints_pb2

    require_args(ctx, args, min=1, max=2)
    cli: Cli = ctx.obj
    container, name = (args[0], args[1]) if len(args) == 2 else ("", args[0])
    cli.client().checkpoints.Remove(
        checkpoints_pb2.RemoveCheckpointRequest(
            container=container, checkpoint_id=name, checkpoint_dir=checkpoint_dir
        )
    )


@click.command("export", short_help="Export a checkpoint as one self-contained file")
@_dir_option
@click.argument("args", nargs=-1, metavar="CONTAINER CHECKPOINT FILE|-")
@click.pass_context
def export(ctx: click.Context, checkpoint_dir: str, args: tuple[str, ...]) -> None:
    """Export a checkpoint (CRIU images, filesystem diff, config, image digest) to FILE."""
    import sys

    from pyd_proto.pyd.dockerd.v1 import checkpoints_pb2

    require_args(ctx, args, exact=3)
    cli: Cli = ctx.obj
    target = args[2]
    if target == "-" and sys.stdout.isatty():
        raise CliError("cowardly refusing to write a checkpoint to a terminal; give a FILE")
    stream = cli.client().checkpoints.Export(
        checkpoints_pb2.ExportCheckpointRequest(
            container=args[0], checkpoint_id=args[1], checkpoint_dir=checkpoint_dir
        )
    )
    if target == "-":
        for chunk in stream:
            write_out(chunk.data)
        return
    tmp = f"{target}.pyd-export-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            for chunk in stream:
                fh.write(chunk.data)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

"""`pyd create`: create a new container (prints its full id).

Also the create step of `pyd run`: an unknown image is pulled first, with
docker's "Unable to find image 'x:latest' locally" line on stderr.
`--from-checkpoint FILE|NAME` (pyd, issue 6) creates the container from a
checkpoint; a FILE is imported first (Checkpoints.Import, standalone).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from pyd_cli.cmdutil import PASSTHROUGH, require_args, rpc_code
from pyd_cli.commands.container.opts import ContainerSpec, container_options, parse
from pyd_cli.context import Cli
from pyd_cli.errors import EXIT_DAEMON, EXIT_ERROR

if TYPE_CHECKING:
    from pyd_proto.pyd.dockerd.v1 import containers_pb2


@click.command("create", short_help="Create a new container", context_settings=PASSTHROUGH)
@container_options
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="IMAGE [COMMAND] [ARG...]")
@click.pass_context
def create(ctx: click.Context, /, args: tuple[str, ...], **opts: Any) -> None:
    """Create a new container."""
    if not opts["from_checkpoint"]:
        require_args(ctx, args, min=1)
    cli: Cli = ctx.obj
    spec = parse(ctx, opts, args, detach=False)
    # docker create passes the daemon's error through with status 1; a refused
    # --from-checkpoint is a refused restore, 125 as for `start --checkpoint`.
    cli.daemon_error_status = EXIT_DAEMON if opts["from_checkpoint"] else EXIT_ERROR
    resp = create_container(cli, spec, pull=opts["pull"])
    click.echo(resp.id)


def _is_image_missing(exc: Exception) -> bool:
    if rpc_code(exc) != "NOT_FOUND":
        return False
    details = (exc.details() or "").lower()  # type: ignore[attr-defined]
    return "image" in details


def create_container(
    cli: Cli, spec: ContainerSpec, *, pull: str = "missing"
) -> containers_pb2.CreateContainerResponse:
    """Containers.Create, pulling the image when it is missing (docker's --pull)."""
    from pyd_cli.commands.image.pull import pull_image
    from pyd_cli.reference import familiar_tagged

    request = spec.request
    if request.from_checkpoint and os.path.isfile(request.from_checkpoint):
        from pyd_cli.commands.checkpoint.import_ import import_checkpoint

        checkpoint = import_checkpoint(cli, request.from_checkpoint)
        request.from_checkpoint = checkpoint.name
    stubs = cli.client().containers
    if pull == "always" and spec.image:
        pull_image(cli, spec.image, out=sys.stderr, platform=request.platform)
    try:
        resp = stubs.Create(request)
    except Exception as exc:
        if pull != "missing" or not spec.image or not _is_image_missing(exc):
            raise
        sys.stderr.write(f"Unable to find image '{familiar_tagged(spec.image)}' locally\n")
        sys.stderr.flush()
        pull_image(cli, spec.image, out=sys.stderr, platform=request.platform)
        resp = stubs.Create(request)
    for warning in resp.warnings:
        sys.stderr.write(f"WARNING: {warning}\n")
    return resp

"""`pyd pull`: download an image from a registry (Images.Pull's progress stream)."""

from __future__ import annotations

import sys
from typing import IO

import click

from pyd_cli.cmdutil import require_args
from pyd_cli.context import Cli
from pyd_cli.errors import CliError
from pyd_cli.reference import InvalidReference, normalized, parse


@click.command("pull", short_help="Download an image from a registry")
@click.option("-a", "--all-tags", is_flag=True, help="Download all tagged images in the repository")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output")
@click.option("--platform", default="", help="Set platform if server is multi-platform capable")
@click.argument("args", nargs=-1, metavar="NAME[:TAG|@DIGEST]")
@click.pass_context
def pull(
    ctx: click.Context, all_tags: bool, quiet: bool, platform: str, args: tuple[str, ...]
) -> None:
    """Download an image from a registry."""
    require_args(ctx, args, exact=1)
    run_pull(ctx.obj, args[0], all_tags=all_tags, quiet=quiet, platform=platform)


def run_pull(cli: Cli, image: str, *, all_tags: bool, quiet: bool, platform: str) -> None:
    try:
        ref = parse(image)
    except InvalidReference as err:
        raise CliError(str(err)) from None
    if all_tags and (ref.tag or ref.digest):
        raise CliError("tag can't be used with --all-tags/-a")
    if not ref.tag and not ref.digest and not all_tags and not quiet:
        click.echo("Using default tag: latest")
    out = None if quiet else sys.stdout
    pull_image(cli, image, out=out, all_tags=all_tags, platform=platform)
    # docker prints the full reference last, even with -q.
    click.echo(normalized(image) if not all_tags else normalized(image).rsplit(":", 1)[0])


def pull_image(
    cli: Cli, image: str, *, out: IO[str] | None, all_tags: bool = False, platform: str = ""
) -> None:
    """Images.Pull, printing its progress as docker's non-terminal JSONMessage lines.

    An `error` message in the stream ends the pull with that error.
    """
    from pyd_proto.pyd.dockerd.v1 import images_pb2

    ref = parse(image)
    request = images_pb2.PullImageRequest(
        image=ref.name + (f"@{ref.digest}" if ref.digest else ""),
        tag=ref.tag if not ref.digest else "",
        all_tags=all_tags,
        platform=platform,
    )
    if not all_tags and not ref.tag and not ref.digest:
        request.tag = "latest"
    started = False
    for msg in cli.client().images.Pull(request):
        if msg.error or msg.error_detail.message:
            text = msg.error or msg.error_detail.message
            # moby answers an error that comes before any progress as the HTTP
            # error of the request ("Error response from daemon: ..."); later
            # ones print as they are (jsonmessage). Same here, with the
            # command's daemon-error status (125 in run).
            if not started:
                text = f"Error response from daemon: {text}"
            raise CliError(text, cli.daemon_error_status)
        started = True
        if out is None:
            continue
        line = f"{msg.id}: " if msg.id else ""
        out.write(f"{line}{msg.status}\n")
        out.flush()

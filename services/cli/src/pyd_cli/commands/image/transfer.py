"""`pyd import`, `pyd load`, `pyd save`: image archives in and out.

* import: Images.Import, first `header{repo, tag, changes, message, platform}`,
  then the rootfs tar in chunks (a file, a URL is refused, or `-` for stdin);
  prints the new image id.
* load: Images.Load, `{quiet, chunk}` messages of a docker-save archive; prints
  "Loaded image: REF" / "Loaded image ID: ID" per image.
* save: Images.Save(names) → the archive, to `-o FILE` or stdout.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import IO, Any

import click

from pyd_cli.cmdutil import require_args, write_out
from pyd_cli.context import Cli
from pyd_cli.errors import CliError
from pyd_cli.opts.env import go_open_error

CHUNK = 256 * 1024


def read_chunks(fh: IO[bytes]) -> Iterator[bytes]:
    while True:
        data = fh.read(CHUNK)
        if not data:
            return
        yield data


def _open_input(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as err:
        raise CliError(go_open_error(path, err)) from None


@click.command(
    "import", short_help="Import the contents from a tarball to create a filesystem image"
)
@click.option(
    "-c", "--change", multiple=True, help="Apply Dockerfile instruction to the created image"
)
@click.option("-m", "--message", default="", help="Set commit message for imported image")
@click.option("--platform", default="", help="Set platform if server is multi-platform capable")
@click.argument("args", nargs=-1, metavar="file|URL|- [REPOSITORY[:TAG]]")
@click.pass_context
def import_(
    ctx: click.Context, change: tuple[str, ...], message: str, platform: str, args: tuple[str, ...]
) -> None:
    """Import the contents from a tarball to create a filesystem image."""
    from pyd_cli.reference import InvalidReference, parse
    from pyd_proto.pyd.dockerd.v1 import images_pb2

    require_args(ctx, args, min=1, max=2)
    cli: Cli = ctx.obj
    source = args[0]
    repo = args[1] if len(args) > 1 else ""
    if repo:
        try:
            parse(repo)
        except InvalidReference as err:
            raise CliError(str(err)) from None
    if source.startswith(("http://", "https://")):
        raise CliError("importing from a URL is not supported by pyd; download the file first")
    fh = _open_input(source)

    def requests() -> Iterator[Any]:
        yield images_pb2.ImportImageRequest(
            header=images_pb2.ImportImageHeader(
                repo=repo, changes=list(change), message=message, platform=platform
            )
        )
        for data in read_chunks(fh):
            yield images_pb2.ImportImageRequest(chunk=data)

    try:
        resp = cli.client().images.Import(requests())
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()
    click.echo(resp.id)


@click.command("load", short_help="Load an image from a tar archive or STDIN")
@click.option(
    "-i", "--input", "input_", default="", help="Read from tar archive file, instead of STDIN"
)
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output")
@click.argument("args", nargs=-1, metavar="")
@click.pass_context
def load(ctx: click.Context, input_: str, quiet: bool, args: tuple[str, ...]) -> None:
    """Load an image from a tar archive or STDIN."""
    from pyd_proto.pyd.dockerd.v1 import images_pb2

    require_args(ctx, args, exact=0)
    cli: Cli = ctx.obj
    if not input_ and sys.stdin.isatty():
        raise CliError("requested load from stdin, but stdin is empty")
    fh = _open_input(input_ or "-")

    def requests() -> Iterator[Any]:
        first = True
        for data in read_chunks(fh):
            yield images_pb2.LoadImageRequest(quiet=quiet if first else False, chunk=data)
            first = False
        if first:
            yield images_pb2.LoadImageRequest(quiet=quiet)

    try:
        resp = cli.client().images.Load(requests())
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()
    for img in resp.images:
        if img.ref:
            click.echo(f"Loaded image: {img.ref}")
        else:
            click.echo(f"Loaded image ID: {img.id}")


@click.command(
    "save", short_help="Save one or more images to a tar archive (streamed to STDOUT by default)"
)
@click.option("-o", "--output", default="", help="Write to a file, instead of STDOUT")
@click.argument("images", nargs=-1, metavar="IMAGE...")
@click.pass_context
def save(ctx: click.Context, output: str, images: tuple[str, ...]) -> None:
    """Save one or more images to a tar archive (streamed to STDOUT by default)."""
    from pyd_proto.pyd.dockerd.v1 import images_pb2

    require_args(ctx, images, min=1)
    cli: Cli = ctx.obj
    if not output and sys.stdout.isatty():
        raise CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    stream = cli.client().images.Save(images_pb2.SaveImagesRequest(names=list(images)))
    if not output:
        for chunk in stream:
            write_out(chunk.data)
        return
    tmp = f"{output}.pyd-save-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            for chunk in stream:
                fh.write(chunk.data)
        os.replace(tmp, output)
    except OSError as err:
        raise CliError(f"failed to save image: {go_open_error(output, err)}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

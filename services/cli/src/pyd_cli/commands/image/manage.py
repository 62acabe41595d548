"""`pyd tag`, `pyd rmi` / `image rm`, `pyd image inspect`, `pyd image prune`."""

from __future__ import annotations

import click

from pyd_cli.cmdutil import (
    confirm,
    error_text,
    filters_proto,
    print_prune,
    prune_filter_option,
    require_args,
)
from pyd_cli.context import Cli
from pyd_cli.errors import CliError


@click.command("tag", short_help="Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE")
@click.argument("args", nargs=-1, metavar="SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")
@click.pass_context
def tag(ctx: click.Context, args: tuple[str, ...]) -> None:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE."""
    from pyd_cli.reference import InvalidReference, parse
    from pyd_proto.pyd.dockerd.v1 import images_pb2

    require_args(ctx, args, exact=2)
    cli: Cli = ctx.obj
    try:
        target = parse(args[1])
    except InvalidReference as err:
        raise CliError(
            f'Error parsing reference: "{args[1]}" is not a valid repository/tag: {err}'
        ) from None
    if target.digest:
        raise CliError("refusing to create a tag with a digest reference")
    cli.client().images.Tag(
        images_pb2.TagImageRequest(source=args[0], repo=target.name, tag=target.tag or "latest")
    )


@click.command("rm", short_help="Remove one or more images")
@click.option("-f", "--force", is_flag=True, help="Force removal of the image")
@click.option("--no-prune", is_flag=True, help="Do not delete untagged parents")
@click.argument("images", nargs=-1, metavar="IMAGE...")
@click.pass_context
def rmi(ctx: click.Context, force: bool, no_prune: bool, images: tuple[str, ...]) -> None:
    """Remove one or more images."""
    from pyd_proto.pyd.dockerd.v1 import images_pb2

    require_args(ctx, images, min=1)
    cli: Cli = ctx.obj
    errors: list[str] = []
    for image in images:
        try:
            resp = cli.client().images.Remove(
                images_pb2.RemoveImageRequest(image=image, force=force, no_prune=no_prune)
            )
        except Exception as exc:
            errors.append(error_text(cli, exc))
            continue
        for item in resp.items:
            if item.untagged:
                click.echo(f"Untagged: {item.untagged}")
            if item.deleted:
                click.echo(f"Deleted: {item.deleted}")
    if errors:
        raise CliError("\n".join(errors))


@click.command("inspect", short_help="Display detailed information on one or more images")
@click.option("-f", "--format", "fmt", default="", help="Format output using a custom template")
@click.argument("images", nargs=-1, metavar="IMAGE...")
@click.pass_context
def image_inspect(ctx: click.Context, fmt: str, images: tuple[str, ...]) -> None:
    """Display detailed information on one or more images."""
    from pyd_cli.commands.container.inspect import image_dict, inspect_all

    require_args(ctx, images, min=1)
    cli: Cli = ctx.obj
    inspect_all(cli, images, lambda r: image_dict(cli, r), fmt)


@click.command("prune", short_help="Remove unused images")
@click.option(
    "-a",
    "--all",
    "prune_all",
    is_flag=True,
    help="Remove all unused images, not just dangling ones",
)
@prune_filter_option
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.pass_obj
def prune(cli: Cli, prune_all: bool, filters: tuple[tuple[str, str], ...], force: bool) -> None:
    """Remove unused images."""
    from pyd_proto.pyd.dockerd.v1 import images_pb2

    warning = (
        "WARNING! This will remove all images without at least one container associated to them."
        if prune_all
        else "WARNING! This will remove all dangling images."
    )
    if not force and not confirm(warning):
        return
    pairs = [*filters, ("dangling", "false" if prune_all else "true")]
    resp = cli.client().images.Prune(images_pb2.PruneImagesRequest(filters=filters_proto(pairs)))
    lines = []
    for item in resp.images_deleted:
        if item.untagged:
            lines.append(f"untagged: {item.untagged}")
        if item.deleted:
            lines.append(f"deleted: {item.deleted}")
    print_prune("Images", lines, resp.space_reclaimed)

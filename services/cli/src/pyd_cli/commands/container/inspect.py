"""`pyd container inspect` and the top-level `pyd inspect` (any object type).

Docker's output: a JSON array, 4-space indent, Go's escaping; with --format one
template result per object. Objects not found are reported after the output,
one line each, exit 1 (docker's inspect.Inspect).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from pyd_cli.cmdutil import error_text, require_args, rpc_code
from pyd_cli.context import Cli
from pyd_cli.errors import CliError
from pyd_cli.formatting import format_one, json_indent, to_docker_dict

TYPES = ("container", "image", "network", "volume")


def container_dict(cli: Cli, ref: str, size: bool = False) -> dict[str, Any]:
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    data = to_docker_dict(
        cli.client().containers.Inspect(pb.InspectContainerRequest(id=ref, size=size))
    )
    for key in ("SizeRw", "SizeRootFs"):
        if data.get(key) is None:
            data.pop(key, None)
    return data


def image_dict(cli: Cli, ref: str, size: bool = False) -> dict[str, Any]:
    from pyd_proto.pyd.dockerd.v1 import images_pb2

    return to_docker_dict(cli.client().images.Inspect(images_pb2.InspectImageRequest(name=ref)))


def network_dict(cli: Cli, ref: str, size: bool = False) -> dict[str, Any]:
    from pyd_proto.pyd.dockerd.v1 import networks_pb2

    return to_docker_dict(cli.client().networks.Inspect(networks_pb2.InspectNetworkRequest(id=ref)))


def volume_dict(cli: Cli, ref: str, size: bool = False) -> dict[str, Any]:
    from pyd_proto.pyd.dockerd.v1 import volumes_pb2

    return to_docker_dict(cli.client().volumes.Inspect(volumes_pb2.InspectVolumeRequest(name=ref)))


GETTERS: dict[str, Callable[[Cli, str, bool], dict[str, Any]]] = {
    "container": container_dict,
    "image": image_dict,
    "network": network_dict,
    "volume": volume_dict,
}


def inspect_all(
    cli: Cli, refs: tuple[str, ...], getter: Callable[[str], dict[str, Any]], fmt: str
) -> None:
    """Print every object found, then fail with the errors of the others."""
    found: list[dict[str, Any]] = []
    errors: list[str] = []
    for ref in refs:
        try:
            found.append(getter(ref))
        except Exception as exc:
            errors.append(error_text(cli, exc))
    if fmt:
        click.echo("".join(format_one(fmt, item) for item in found), nl=False)
    else:
        click.echo(json_indent(found))
    if errors:
        raise CliError("\n".join(errors))


def _format_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-f", "--format", "fmt", default="", help="Format output using a custom template"
    )(f)


@click.command("inspect", short_help="Display detailed information on one or more containers")
@_format_option
@click.option("-s", "--size", is_flag=True, help="Display total file sizes")
@click.argument("containers", nargs=-1, metavar="NAME|ID...")
@click.pass_context
def container_inspect(
    ctx: click.Context, fmt: str, size: bool, containers: tuple[str, ...]
) -> None:
    """Display detailed information on one or more containers."""
    require_args(ctx, containers, min=1)
    cli: Cli = ctx.obj
    inspect_all(cli, containers, lambda r: container_dict(cli, r, size), fmt)


@click.command("inspect", short_help="Return low-level information on pyd objects")
@_format_option
@click.option(
    "-s", "--size", is_flag=True, help="Display total file sizes if the type is container"
)
@click.option("--type", "kind", default="", help="Only inspect objects of the given type")
@click.argument("names", nargs=-1, metavar="NAME|ID...")
@click.pass_context
def inspect(ctx: click.Context, fmt: str, size: bool, kind: str, names: tuple[str, ...]) -> None:
    """Return low-level information on pyd objects."""
    require_args(ctx, names, min=1)
    cli: Cli = ctx.obj
    if kind and kind not in GETTERS:
        raise CliError(f'"{kind}" is not a valid value for --type')

    def any_type(ref: str) -> dict[str, Any]:
        kinds = [kind] if kind else list(GETTERS)
        for k in kinds:
            try:
                return GETTERS[k](cli, ref, size)
            except Exception as exc:
                # UNIMPLEMENTED: a daemon without that service has no such object.
                if rpc_code(exc) not in ("NOT_FOUND", "UNIMPLEMENTED"):
                    raise
        if kind:
            raise CliError(f"Error: No such {kind}: {ref}")
        raise CliError(f"Error: No such object: {ref}")

    inspect_all(cli, names, any_type, fmt)

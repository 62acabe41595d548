"""`pyd port CONTAINER [PRIVATE_PORT[/PROTO]]`: published ports (from Inspect)."""

from __future__ import annotations

import click

from pyd_cli.cmdutil import require_args
from pyd_cli.context import Cli
from pyd_cli.errors import CliError


def _host(ip: str, port: str) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


@click.command("port", short_help="List port mappings or a specific mapping for the container")
@click.argument("args", nargs=-1, metavar="CONTAINER [PRIVATE_PORT[/PROTO]]")
@click.pass_context
def port(ctx: click.Context, args: tuple[str, ...]) -> None:
    """List port mappings or a specific mapping for the container."""
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    require_args(ctx, args, min=1, max=2)
    cli: Cli = ctx.obj
    info = cli.client().containers.Inspect(pb.InspectContainerRequest(id=args[0]))
    ports = info.network_settings.ports
    lines: list[str] = []
    if len(args) == 2:
        spec = args[1]
        number, _, proto = spec.partition("/")
        key = f"{number}/{proto or 'tcp'}"
        bindings = ports.get(key)
        if bindings is None or not bindings.items:
            raise CliError(f"Error: No public port '{key}' published for {args[0]}")
        lines = [_host(b.host_ip, b.host_port) for b in bindings.items]
    else:
        for key in sorted(ports, key=lambda k: (int(k.split("/")[0]), k)):
            for b in ports[key].items:
                lines.append(f"{key} -> {_host(b.host_ip, b.host_port)}")
    for line in lines:
        click.echo(line)

"""`pyd network create|ls|rm|inspect|connect|disconnect|prune` (the Networks service)."""

from __future__ import annotations

from typing import Any

import click

from pyd_cli.cmdutil import (
    confirm,
    filter_option,
    filters_proto,
    for_each,
    print_prune,
    prune_filter_option,
    require_args,
)
from pyd_cli.context import Cli
from pyd_cli.errors import CliError
from pyd_cli.formatting import format_output, truncate_id
from pyd_cli.opts import FlagType
from pyd_cli.opts.env import parse_key_value, parse_labels


@click.command("create", short_help="Create a network")
@click.option("--attachable", is_flag=True, help="Enable manual container attachment")
@click.option(
    "--aux-address", multiple=True, help="Auxiliary IPv4 or IPv6 addresses used by Network driver"
)
@click.option("-d", "--driver", default="bridge", help="Driver to manage the Network")
@click.option("--gateway", multiple=True, help="IPv4 or IPv6 Gateway for the master subnet")
@click.option("--internal", is_flag=True, help="Restrict external access to the network")
@click.option("--ip-range", multiple=True, help="Allocate container ip from a sub-range")
@click.option("--ipam-driver", default="default", help="IP Address Management Driver")
@click.option("--ipv6", is_flag=True, default=None, help="Enable or disable IPv6 networking")
@click.option(
    "--label",
    multiple=True,
    type=FlagType("list", parse_key_value),
    help="Set metadata on a network",
)
@click.option(
    "-o",
    "--opt",
    multiple=True,
    type=FlagType("map", parse_key_value),
    help="Set driver specific options",
)
@click.option(
    "--subnet", multiple=True, help="Subnet in CIDR format that represents a network segment"
)
@click.argument("args", nargs=-1, metavar="NETWORK")
@click.pass_context
def create(
    ctx: click.Context,
    attachable: bool,
    aux_address: tuple[str, ...],
    driver: str,
    gateway: tuple[str, ...],
    internal: bool,
    ip_range: tuple[str, ...],
    ipam_driver: str,
    ipv6: bool | None,
    label: tuple[str, ...],
    opt: tuple[str, ...],
    subnet: tuple[str, ...],
    args: tuple[str, ...],
) -> None:
    """Create a network."""
    from pyd_proto.pyd.dockerd.v1 import networks_pb2

    require_args(ctx, args, exact=1)
    cli: Cli = ctx.obj
    if len(gateway) > len(subnet) or len(ip_range) > len(subnet):
        # docker's consolidateIpam wording
        what = "gateway" if len(gateway) > len(subnet) else "ip-range"
        raise CliError(f"every {what} must have a corresponding subnet")
    ipam = networks_pb2.IPAM(driver=ipam_driver)
    for i, net in enumerate(subnet):
        cfg = ipam.config.add(subnet=net)
        if i < len(gateway):
            cfg.gateway = gateway[i]
        if i < len(ip_range):
            cfg.ip_range = ip_range[i]
    if aux_address and not subnet:
        raise CliError("no matching subnet for aux-address")
    for aux in aux_address:
        key, _, value = aux.partition("=")
        ipam.config[0].aux_addresses[key] = value
    req = networks_pb2.CreateNetworkRequest(
        name=args[0],
        driver=driver,
        ipam=ipam,
        internal=internal,
        attachable=attachable,
        options=parse_labels(list(opt)),
        labels=parse_labels(list(label)),
    )
    if ipv6 is not None:
        req.enable_ipv6 = ipv6
    resp = cli.client().networks.Create(req)
    if resp.warning:
        click.echo(f"WARNING: {resp.warning}", err=True)
    click.echo(resp.id)


class NetworkContext:
    FIELDS = ("CreatedAt", "Driver", "ID", "IPv4", "IPv6", "Internal", "Labels", "Name", "Scope")

    def __init__(self, n: Any, trunc: bool) -> None:
        self._n = n
        self._trunc = trunc

    @property
    def ID(self) -> str:
        return truncate_id(self._n.id) if self._trunc else str(self._n.id)

    @property
    def Name(self) -> str:
        return str(self._n.name)

    @property
    def Driver(self) -> str:
        return str(self._n.driver)

    @property
    def Scope(self) -> str:
        return str(self._n.scope)

    @property
    def IPv4(self) -> str:
        return "true" if self._n.enable_ipv4 else "false"

    @property
    def IPv6(self) -> str:
        return "true" if self._n.enable_ipv6 else "false"

    @property
    def Internal(self) -> str:
        return "true" if self._n.internal else "false"

    @property
    def Labels(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self._n.labels.items()))

    @property
    def CreatedAt(self) -> str:
        from pyd_cli.formatting import rfc3339_nano

        return rfc3339_nano(self._n.created.seconds, self._n.created.nanos)

    def to_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in self.FIELDS}


@click.command("ls", short_help="List networks")
@filter_option
@click.option("--format", "fmt", default="", help="Format output using a custom template")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output")
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs")
@click.pass_obj
def ls(
    cli: Cli, filters: tuple[tuple[str, str], ...], fmt: str, no_trunc: bool, quiet: bool
) -> None:
    """List networks."""
    from pyd_proto.pyd.dockerd.v1 import networks_pb2

    resp = cli.client().networks.List(
        networks_pb2.ListNetworksRequest(filters=filters_proto(filters))
    )
    rows = [NetworkContext(n, not no_trunc) for n in sorted(resp.networks, key=lambda n: n.name)]
    if quiet and fmt in ("", "table"):
        fmt = "{{.ID}}"
    click.echo(
        format_output(
            fmt,
            rows,
            default_table="table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
            headers={
                "ID": "NETWORK ID",
                "Name": "NAME",
                "Driver": "DRIVER",
                "Scope": "SCOPE",
                "IPv4": "IPV4",
                "IPv6": "IPV6",
                "Internal": "INTERNAL",
                "Labels": "LABELS",
                "CreatedAt": "CREATED AT",
            },
        ),
        nl=False,
    )


@click.command("rm", short_help="Remove one or more networks")
@click.option("-f", "--force", is_flag=True, help="Do not error if the network does not exist")
@click.argument("networks", nargs=-1, metavar="NETWORK...")
@click.pass_context
def rm(ctx: click.Context, force: bool, networks: tuple[str, ...]) -> None:
    """Remove one or more networks."""
    from pyd_cli.cmdutil import rpc_code
    from pyd_proto.pyd.dockerd.v1 import networks_pb2

    require_args(ctx, networks, min=1)
    cli: Cli = ctx.obj

    def one(name: str) -> str | None:
        try:
            cli.client().networks.Remove(networks_pb2.RemoveNetworkRequest(id=name))
        except Exception as exc:
            if force and rpc_code(exc) == "NOT_FOUND":
                return None
            raise
        return name

    for_each(cli, networks, one)


@click.command("inspect", short_help="Display detailed information on one or more networks")
@click.option("-f", "--format", "fmt", default="", help="Format output using a custom template")
@click.option("-v", "--verbose", is_flag=True, help="Verbose output for diagnostics")
@click.argument("networks", nargs=-1, metavar="NETWORK...")
@click.pass_context
def inspect(ctx: click.Context, fmt: str, verbose: bool, networks: tuple[str, ...]) -> None:
    """Display detailed information on one or more networks."""
    from pyd_cli.commands.container.inspect import inspect_all, network_dict

    require_args(ctx, networks, min=1)
    cli: Cli = ctx.obj
    inspect_all(cli, networks, lambda r: network_dict(cli, r), fmt)


@click.command("connect", short_help="Connect a container to a network")
@click.option("--alias", multiple=True, help="Add network-scoped alias for the container")
@click.option("--driver-opt", multiple=True, help="driver options for the network")
@click.option("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)")
@click.option("--ip6", default="", help="IPv6 address (e.g., 2001:db8::33)")
@click.option("--link", multiple=True, help="Add link to another container")
@click.argument("args", nargs=-1, metavar="NETWORK CONTAINER")
@click.pass_context
def connect(
    ctx: click.Context,
    alias: tuple[str, ...],
    driver_opt: tuple[str, ...],
    ip: str,
    ip6: str,
    link: tuple[str, ...],
    args: tuple[str, ...],
) -> None:
    """Connect a container to a network."""
    from pyd_proto.pyd.dockerd.v1 import networks_pb2, types_pb2

    require_args(ctx, args, exact=2)
    cli: Cli = ctx.obj
    ep = types_pb2.EndpointSettings(
        aliases=list(alias), links=list(link), driver_opts=parse_labels(list(driver_opt))
    )
    if ip or ip6:
        ep.ipam_config.ipv4_address = ip
        ep.ipam_config.ipv6_address = ip6
    cli.client().networks.Connect(
        networks_pb2.ConnectNetworkRequest(network=args[0], container=args[1], endpoint_config=ep)
    )


@click.command("disconnect", short_help="Disconnect a container from a network")
@click.option(
    "-f", "--force", is_flag=True, help="Force the container to disconnect from a network"
)
@click.argument("args", nargs=-1, metavar="NETWORK CONTAINER")
@click.pass_context
def disconnect(ctx: click.Context, force: bool, args: tuple[str, ...]) -> None:
    """Disconnect a container from a network."""
    from pyd_proto.pyd.dockerd.v1 import networks_pb2

    require_args(ctx, args, exact=2)
    cli: Cli = ctx.obj
    cli.client().networks.Disconnect(
        networks_pb2.DisconnectNetworkRequest(network=args[0], container=args[1], force=force)
    )


@click.command("prune", short_help="Remove all unused networks")
@prune_filter_option
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.pass_obj
def prune(cli: Cli, filters: tuple[tuple[str, str], ...], force: bool) -> None:
    """Remove all unused networks."""
    from pyd_proto.pyd.dockerd.v1 import networks_pb2

    if not force and not confirm(
        "WARNING! This will remove all custom networks not used by at least one container."
    ):
        return
    resp = cli.client().networks.Prune(
        networks_pb2.PruneNetworksRequest(filters=filters_proto(filters))
    )
    print_prune("Networks", list(resp.networks_deleted), None)

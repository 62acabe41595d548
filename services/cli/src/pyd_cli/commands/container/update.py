"""`pyd update`: change a container's resources or restart policy (Containers.Update;
only the fields given are set, the rest stay as they are)."""

from __future__ import annotations

import click

from pyd_cli.cmdutil import for_each, require_args, usage_error
from pyd_cli.context import Cli
from pyd_cli.opts import FlagType, OptError
from pyd_cli.opts.restart import parse_restart_policy
from pyd_cli.opts.units import parse_cpus, ram_in_bytes


@click.command("update", short_help="Update configuration of one or more containers")
@click.option("-c", "--cpu-shares", type=int, default=None, help="CPU shares (relative weight)")
@click.option("--cpus", type=FlagType("decimal", parse_cpus), default=None, help="Number of CPUs")
@click.option(
    "-m", "--memory", type=FlagType("bytes", ram_in_bytes), default=None, help="Memory limit"
)
@click.option(
    "--pids-limit", type=int, default=None, help="Tune container pids limit (set -1 for unlimited)"
)
@click.option("--restart", default="", help="Restart policy to apply when a container exits")
@click.argument("containers", nargs=-1, metavar="CONTAINER...")
@click.pass_context
def update(
    ctx: click.Context,
    cpu_shares: int | None,
    cpus: int | None,
    memory: int | None,
    pids_limit: int | None,
    restart: str,
    containers: tuple[str, ...],
) -> None:
    """Update configuration of one or more containers."""
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb
    from pyd_proto.pyd.dockerd.v1 import types_pb2

    require_args(ctx, containers, min=1)
    cli: Cli = ctx.obj
    if all(v is None for v in (cpu_shares, cpus, memory, pids_limit)) and not restart:
        raise usage_error(ctx, "you must provide one or more flags when using this command", 1)
    policy = None
    if restart:
        try:
            name, count = parse_restart_policy(restart)
        except OptError as err:
            raise usage_error(ctx, str(err)) from None
        policy = types_pb2.RestartPolicy(name=name, maximum_retry_count=count)
    res = types_pb2.Resources(cpu_shares=cpu_shares or 0, nano_cpus=cpus or 0, memory=memory or 0)
    if pids_limit is not None:
        res.pids_limit = pids_limit
    stubs = cli.client().containers

    def one(name: str) -> None:
        req = pb.UpdateContainerRequest(id=name, resources=res)
        if policy is not None:
            req.restart_policy.CopyFrom(policy)
        resp = stubs.Update(req)
        for warning in resp.warnings:
            click.echo(warning, err=True)

    for_each(cli, containers, one)

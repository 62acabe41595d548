"""`pyd update`: change a container's resources or restart policy (Containers.Update;
only the fields given are set, the rest stay as they are)."""

from __future__ import annotations

import click

from pyd_cli.cmdutil import for_each, require_args, usage_error
from pyd_cli.context import Cli
from pyd_cli.opts import FlagType, OptError
from pyd_cli.opts.restart import parse_restart_policy
from pyd_cli.opts.units import parse_cpus, ram_in_bytes


def swap_in_bytes(value: str) -> int:
    """opts.MemSwapBytes: a size, or -1 for unlimited swap."""
    return -1 if value.strip() == "-1" else ram_in_bytes(value)


@click.command("update", short_help="Update configuration of one or more containers")
@click.option("-c", "--cpu-shares", type=int, default=None, help="CPU shares (relative weight)")
@click.option("--cpus", type=FlagType("decimal", parse_cpus), default=None, help="Number of CPUs")
@click.option(
    "-m", "--memory", type=FlagType("bytes", ram_in_bytes), default=None, help="Memory limit"
)
@click.option(
    "--memory-reservation",
    type=FlagType("bytes", ram_in_bytes),
    default=None,
    help="Memory soft limit",
)
@click.option(
    "--memory-swap",
    type=FlagType("bytes", swap_in_bytes),
    default=None,
    help="Swap limit equal to memory plus swap: -1 to enable unlimited swap",
)
@click.option("--cpu-period", type=int, default=None, help="Limit CPU CFS (Completely Fair "
              "Scheduler) period")
@click.option("--cpu-quota", type=int, default=None, help="Limit CPU CFS (Completely Fair "
              "Scheduler) quota")
@click.option("--cpuset-cpus", default="", help="CPUs in which to allow execution (0-3, 0,1)")
@click.option("--cpuset-mems", default="", help="MEMs in which to allow execution (0-3, 0,1)")
@click.option(
    "--blkio-weight", type=int, default=None,
    help="Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)",
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
    memory_reservation: int | None,
    memory_swap: int | None,
    cpu_period: int | None,
    cpu_quota: int | None,
    cpuset_cpus: str,
    cpuset_mems: str,
    blkio_weight: int | None,
    pids_limit: int | None,
    restart: str,
    containers: tuple[str, ...],
) -> None:
    """Update configuration of one or more containers."""
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb
    from pyd_proto.pyd.dockerd.v1 import types_pb2

    require_args(ctx, containers, min=1)
    cli: Cli = ctx.obj
    numbers = (cpu_shares, cpus, memory, memory_reservation, memory_swap, cpu_period, cpu_quota,
               blkio_weight, pids_limit)
    if all(v is None for v in numbers) and not (restart or cpuset_cpus or cpuset_mems):
        raise usage_error(ctx, "you must provide one or more flags when using this command", 1)
    policy = None
    if restart:
        try:
            name, count = parse_restart_policy(restart)
        except OptError as err:
            raise usage_error(ctx, str(err)) from None
        policy = types_pb2.RestartPolicy(name=name, maximum_retry_count=count)
    res = types_pb2.Resources(
        cpu_shares=cpu_shares or 0,
        nano_cpus=cpus or 0,
        memory=memory or 0,
        memory_reservation=memory_reservation or 0,
        memory_swap=memory_swap or 0,
        cpu_period=cpu_period or 0,
        cpu_quota=cpu_quota or 0,
        cpuset_cpus=cpuset_cpus,
        cpuset_mems=cpuset_mems,
        blkio_weight=blkio_weight or 0,
    )
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

"""`pyd stop`, `restart`, `kill`, `rm`, `pause`, `unpause`, `rename`, `wait`:
docker's "echo each argument, continue past errors, exit 1 if any failed"."""

from __future__ import annotations

import click

from pyd_cli.cmdutil import for_each, require_args
from pyd_cli.context import Cli
from pyd_cli.errors import CliError


@click.command("stop", short_help="Stop one or more running containers")
@click.option("-s", "--signal", "sig", default="", help="Signal to send to the container")
@click.option(
    "-t",
    "--time",
    "timeout",
    type=int,
    default=None,
    help="Seconds to wait before killing the container",
)
@click.argument("containers", nargs=-1, metavar="CONTAINER...")
@click.pass_context
def stop(ctx: click.Context, sig: str, timeout: int | None, containers: tuple[str, ...]) -> None:
    """Stop one or more running containers."""
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    require_args(ctx, containers, min=1)
    cli: Cli = ctx.obj
    stubs = cli.client().containers

    def one(name: str) -> None:
        req = pb.StopContainerRequest(id=name, signal=sig)
        if timeout is not None:
            req.timeout = timeout
        stubs.Stop(req)

    for_each(cli, containers, one, parallel=True)


@click.command("restart", short_help="Restart one or more containers")
@click.option("-s", "--signal", "sig", default="", help="Signal to send to the container")
@click.option(
    "-t",
    "--time",
    "timeout",
    type=int,
    default=None,
    help="Seconds to wait before killing the container",
)
@click.argument("containers", nargs=-1, metavar="CONTAINER...")
@click.pass_context
def restart(ctx: click.Context, sig: str, timeout: int | None, containers: tuple[str, ...]) -> None:
    """Restart one or more containers."""
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    require_args(ctx, containers, min=1)
    cli: Cli = ctx.obj
    stubs = cli.client().containers

    def one(name: str) -> None:
        req = pb.RestartContainerRequest(id=name, signal=sig)
        if timeout is not None:
            req.timeout = timeout
        stubs.Restart(req)

    for_each(cli, containers, one, parallel=True)


@click.command("kill", short_help="Kill one or more running containers")
@click.option("-s", "--signal", "sig", default="", help="Signal to send to the container")
@click.argument("containers", nargs=-1, metavar="CONTAINER...")
@click.pass_context
def kill(ctx: click.Context, sig: str, containers: tuple[str, ...]) -> None:
    """Kill one or more running containers."""
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    require_args(ctx, containers, min=1)
    cli: Cli = ctx.obj
    stubs = cli.client().containers
    for_each(
        cli,
        containers,
        lambda n: stubs.Kill(pb.KillContainerRequest(id=n, signal=sig)),
        parallel=True,
    )


@click.command("rm", short_help="Remove one or more containers")
@click.option(
    "-f", "--force", is_flag=True, help="Force the removal of a running container (uses SIGKILL)"
)
@click.option("-l", "--link", is_flag=True, help="Remove the specified link")
@click.option(
    "-v", "--volumes", is_flag=True, help="Remove anonymous volumes associated with the container"
)
@click.argument("containers", nargs=-1, metavar="CONTAINER...")
@click.pass_context
def rm(
    ctx: click.Context, force: bool, link: bool, volumes: bool, containers: tuple[str, ...]
) -> None:
    """Remove one or more containers."""
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    require_args(ctx, containers, min=1)
    cli: Cli = ctx.obj
    stubs = cli.client().containers

    def one(name: str) -> None:
        name = name.strip("/")
        if not name:
            raise CliError("Container name cannot be empty")
        stubs.Remove(pb.RemoveContainerRequest(id=name, force=force, volumes=volumes, link=link))

    for_each(cli, containers, one, parallel=True, ignore_not_found=force)


@click.command("pause", short_help="Pause all processes within one or more containers")
@click.argument("containers", nargs=-1, metavar="CONTAINER...")
@click.pass_context
def pause(ctx: click.Context, containers: tuple[str, ...]) -> None:
    """Pause all processes within one or more containers."""
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    require_args(ctx, containers, min=1)
    cli: Cli = ctx.obj
    stubs = cli.client().containers
    for_each(cli, containers, lambda n: stubs.Pause(pb.PauseContainerRequest(id=n)))


@click.command("unpause", short_help="Unpause all processes within one or more containers")
@click.argument("containers", nargs=-1, metavar="CONTAINER...")
@click.pass_context
def unpause(ctx: click.Context, containers: tuple[str, ...]) -> None:
    """Unpause all processes within one or more containers."""
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    require_args(ctx, containers, min=1)
    cli: Cli = ctx.obj
    stubs = cli.client().containers
    for_each(cli, containers, lambda n: stubs.Unpause(pb.UnpauseContainerRequest(id=n)))


@click.command("rename", short_help="Rename a container")
@click.argument("args", nargs=-1, metavar="CONTAINER NEW_NAME")
@click.pass_context
def rename(ctx: click.Context, args: tuple[str, ...]) -> None:
    """Rename a container."""
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    require_args(ctx, args, exact=2)
    old, new = args[0], args[1].strip().lstrip("/")
    if not old or not new:
        raise CliError("Error: Neither old nor new names may be empty")
    cli: Cli = ctx.obj
    cli.client().containers.Rename(pb.RenameContainerRequest(id=old, new_name=new))


@click.command(
    "wait", short_help="Block until one or more containers stop, then print their exit codes"
)
@click.argument("containers", nargs=-1, metavar="CONTAINER...")
@click.pass_context
def wait(ctx: click.Context, containers: tuple[str, ...]) -> None:
    """Block until one or more containers stop, then print their exit codes."""
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    require_args(ctx, containers, min=1)
    cli: Cli = ctx.obj
    stubs = cli.client().containers

    def one(name: str) -> str:
        code = 0
        for msg in stubs.Wait(pb.WaitContainerRequest(id=name, condition="not-running")):
            if msg.registered:
                continue
            if msg.error.message:
                raise CliError(msg.error.message)
            code = msg.status_code
            break
        return str(code)

    for_each(cli, containers, one)

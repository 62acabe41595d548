"""`pyd exec`: run a command in a running container.

Containers.ExecCreate(container, cmd, env, user, working_dir, privileged, tty,
attach_*) then the ExecStart bidi stream (first message `start{exec_id, detach,
tty, console_size}`); exit with the command's code (the `exit` frame, or
ExecInspect when the stream ended without one).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from pyd_cli.client import is_rpc_error, map_rpc_error, run_error_status
from pyd_cli.cmdutil import PASSTHROUGH, require_args, usage_error
from pyd_cli.context import Cli
from pyd_cli.errors import EXIT_ERROR, CliError
from pyd_cli.opts import FlagType, OptError
from pyd_cli.opts.detachkeys import DEFAULT_DETACH_KEYS, parse_detach_keys, to_bytes
from pyd_cli.opts.env import read_env, validate_env


@click.command(
    "exec", short_help="Execute a command in a running container", context_settings=PASSTHROUGH
)
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background")
@click.option(
    "--detach-keys",
    default="",
    type=FlagType("string", parse_detach_keys),
    help="Override the key sequence for detaching a container",
)
@click.option(
    "-e",
    "--env",
    multiple=True,
    type=FlagType("list", validate_env),
    help="Set environment variables",
)
@click.option("--env-file", multiple=True, help="Read in a file of environment variables")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached")
@click.option("--privileged", is_flag=True, help="Give extended privileges to the command")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY")
@click.option(
    "-u", "--user", default="", help='Username or UID (format: "<name|uid>[:<group|gid>]")'
)
@click.option("-w", "--workdir", default="", help="Working directory inside the container")
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="CONTAINER COMMAND [ARG...]")
@click.pass_context
def exec_(
    ctx: click.Context,
    detach: bool,
    detach_keys: str,
    env: tuple[str, ...],
    env_file: tuple[str, ...],
    interactive: bool,
    privileged: bool,
    tty: bool,
    user: str,
    workdir: str,
    args: tuple[str, ...],
) -> None:
    """Execute a command in a running container."""
    require_args(ctx, args, min=2)
    try:
        environment = read_env(list(env_file), list(env))
    except OptError as err:
        raise usage_error(ctx, str(err)) from None
    status = run_exec(
        ctx.obj,
        args[0],
        list(args[1:]),
        detach=detach,
        detach_keys=detach_keys,
        env=environment,
        interactive=interactive,
        privileged=privileged,
        tty=tty,
        user=user,
        workdir=workdir,
    )
    if status:
        ctx.exit(status)


def run_exec(
    cli: Cli,
    container: str,
    cmd: list[str],
    *,
    detach: bool = False,
    detach_keys: str = "",
    env: list[str] | None = None,
    interactive: bool = False,
    privileged: bool = False,
    tty: bool = False,
    user: str = "",
    workdir: str = "",
) -> int:
    from pyd_cli.streams import StreamSession, terminal_size
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb
    from pyd_proto.pyd.dockerd.v1 import types_pb2

    if not detach and tty and interactive and not sys.stdin.isatty():
        raise CliError("the input device is not a TTY")
    stubs = cli.client().containers
    size = terminal_size() if tty else None
    console = types_pb2.TerminalSize(height=size[0], width=size[1]) if size else None
    created = stubs.ExecCreate(
        pb.ExecCreateRequest(
            container=container,
            cmd=cmd,
            env=env or [],
            user=user,
            working_dir=workdir,
            privileged=privileged,
            tty=tty,
            attach_stdin=interactive and not detach,
            attach_stdout=not detach,
            attach_stderr=not detach,
            detach_keys=detach_keys,
            console_size=console,
        )
    )
    start = pb.ExecStart(exec_id=created.id, detach=detach, tty=tty, console_size=console)
    if detach:
        for _ in stubs.ExecStart(iter([pb.ExecStartRequest(start=start)])):
            pass
        return 0
    session = StreamSession(
        stubs.ExecStart,
        pb.ExecStartRequest(start=start),
        pb.ExecStartRequest,
        stdin=interactive,
        tty=tty,
        detach_keys=to_bytes(detach_keys or DEFAULT_DETACH_KEYS),
    )
    try:
        result = session.run()
    except Exception as exc:
        if not is_rpc_error(exc):
            raise
        err = map_rpc_error(exc, cli.host)
        raise CliError(err.message, _start_failure_status(stubs, created.id, err.message)) from None
    if result.detached:
        return 0
    if result.error:
        message = f"Error response from daemon: {result.error}"
        raise CliError(message, _start_failure_status(stubs, created.id, message))
    if result.exit_code is not None:
        return result.exit_code
    inspected = stubs.ExecInspect(pb.ExecInspectRequest(exec_id=created.id))
    return inspected.exit_code if inspected.HasField("exit_code") else 0


def _start_failure_status(stubs: Any, exec_id: str, message: str) -> int:
    """docker exec's status when the process could not start: the exec's exit code
    as the daemon recorded it (126/127), else docker's string rules."""
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    try:
        inspected = stubs.ExecInspect(pb.ExecInspectRequest(exec_id=exec_id))
        if inspected.HasField("exit_code") and inspected.exit_code:
            return int(inspected.exit_code)
    except Exception:
        pass
    return run_error_status(message, EXIT_ERROR)

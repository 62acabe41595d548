"""`pyd run`: create and start a container, attach to it, exit with its code.

docker/cli's run.go: parse (flag errors → `pyd: MSG.` + help, 125), create
(pulling a missing image; its errors → `pyd: MSG.` + help, 125), register a
Wait before Start so the exit is never missed, attach, start, pump output,
then exit with the container's code.
`-d` prints the full id instead; `--rm` removes the container after it exits
(the daemon may have done so already: NOT_FOUND is fine).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from pyd_cli.cmdutil import PASSTHROUGH, cancel, first_message, require_args
from pyd_cli.commands.container.create import create_container
from pyd_cli.commands.container.opts import ContainerSpec, container_options, parse
from pyd_cli.context import Cli
from pyd_cli.errors import EXIT_DAEMON, CliError
from pyd_cli.opts import FlagType
from pyd_cli.opts.detachkeys import DEFAULT_DETACH_KEYS, parse_detach_keys, to_bytes


@click.command(
    "run", short_help="Create and run a new container from an image", context_settings=PASSTHROUGH
)
@click.option(
    "-d", "--detach", is_flag=True, help="Run container in background and print container ID"
)
@click.option(
    "--detach-keys",
    default="",
    type=FlagType("string", parse_detach_keys),
    help="Override the key sequence for detaching a container",
)
@click.option(
    "--sig-proxy/--no-sig-proxy",
    default=True,
    help="Proxy received signals to the process",
)
@container_options
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="IMAGE [COMMAND] [ARG...]")
@click.pass_context
def run(
    ctx: click.Context,
    /,
    args: tuple[str, ...],
    detach: bool,
    detach_keys: str,
    sig_proxy: bool,
    **opts: Any,
) -> None:
    """Create and run a new container from an image."""
    if not opts["from_checkpoint"]:
        require_args(ctx, args, min=1)
    spec = parse(ctx, opts, args, detach=detach)
    status = run_run(
        ctx.obj,
        spec,
        detach=detach,
        detach_keys=detach_keys,
        sig_proxy=sig_proxy,
        pull=opts["pull"],
    )
    if status:
        ctx.exit(status)


def run_run(
    cli: Cli, spec: ContainerSpec, *, detach: bool, detach_keys: str, sig_proxy: bool, pull: str
) -> int:
    """Create, start, attach; return the container's exit code (0 when detached)."""
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    cli.daemon_error_status = EXIT_DAEMON
    # docker run returns CheckTty's error as is (status 1, no "docker: " prefix)
    if not detach and spec.tty and spec.attach_stdin and not sys.stdin.isatty():
        raise CliError("the input device is not a TTY", 1)
    cli.error_prefix = "pyd: "
    cli.error_period = True

    try:
        container_id = create_container(cli, spec, pull=pull).id
    except Exception as exc:
        raise _with_help(cli, exc) from exc
    stubs = cli.client().containers
    if detach:
        stubs.Start(pb.StartContainerRequest(id=container_id, detach_keys=detach_keys))
        click.echo(container_id)
        return 0

    from pyd_cli.streams import StreamSession

    wait = stubs.Wait(pb.WaitContainerRequest(id=container_id, condition="next-exit"))
    first_message(wait)  # registered
    session = StreamSession(
        stubs.Attach,
        pb.AttachRequest(
            start=pb.AttachStart(
                id=container_id,
                stdin=spec.attach_stdin,
                stdout=spec.attach_stdout,
                stderr=spec.attach_stderr,
                stream=True,
                logs=True,
                detach_keys=detach_keys,
            )
        ),
        pb.AttachRequest,
        stdin=spec.attach_stdin,
        tty=spec.tty,
        detach_keys=to_bytes(detach_keys or DEFAULT_DETACH_KEYS),
        kill=(lambda sig: stubs.Kill(pb.KillContainerRequest(id=container_id, signal=sig)))
        if sig_proxy
        else None,
    )

    def start() -> None:
        try:
            stubs.Start(pb.StartContainerRequest(id=container_id, detach_keys=detach_keys))
        except Exception:
            cancel(wait)
            if spec.auto_remove:
                _remove_quietly(cli, container_id)
            raise

    result = session.run(on_ready=start)
    if result.detached:
        cancel(wait)
        return 0
    status = result.exit_code
    try:
        for msg in wait:
            if not msg.registered:
                status = msg.status_code
                if msg.error.message:
                    raise CliError(msg.error.message, EXIT_DAEMON)
                break
    except Exception as exc:
        if status is None or isinstance(exc, CliError):
            raise
    if spec.auto_remove:
        _remove_quietly(cli, container_id)
    return status or 0


def _with_help(cli: Cli, exc: Exception) -> Exception:
    """docker run's reportError(..., withHelp=true) for a failed create (pull included):
    the daemon's error, then "See 'pyd run --help'." (a failed start has no hint)."""
    from pyd_cli.client import is_rpc_error, map_rpc_error

    if isinstance(exc, CliError):
        err = exc
    elif is_rpc_error(exc):
        err = map_rpc_error(exc, cli.host, daemon_error_status=cli.daemon_error_status)
    else:
        return exc
    if not err.message:
        return err
    return CliError(err.message.rstrip(".") + ".\nSee 'pyd run --help'.", err.status)


def _remove_quietly(cli: Cli, container_id: str) -> None:
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    try:
        cli.client().containers.Remove(
            pb.RemoveContainerRequest(id=container_id, force=True, volumes=True)
        )
    except Exception:
        pass

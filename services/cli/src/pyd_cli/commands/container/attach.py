"""`pyd attach`: attach the terminal to a running container (Containers.Attach).

Refuses stopped and paused containers as docker does; the detach sequence
(`--detach-keys`, default ctrl-p,ctrl-q) leaves the container running; exits
with the container's code when it stops.
"""

from __future__ import annotations

import sys

import click

from pyd_cli.cmdutil import require_args
from pyd_cli.context import Cli
from pyd_cli.errors import CliError
from pyd_cli.opts import FlagType
from pyd_cli.opts.detachkeys import DEFAULT_DETACH_KEYS, parse_detach_keys, to_bytes


@click.command(
    "attach",
    short_help="Attach local standard input, output, and error streams to a running container",
)
@click.option(
    "--detach-keys",
    default="",
    type=FlagType("string", parse_detach_keys),
    help="Override the key sequence for detaching a container",
)
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN")
@click.option(
    "--sig-proxy/--no-sig-proxy",
    default=True,
    help="Proxy all received signals to the process",
)
@click.argument("args", nargs=-1, metavar="CONTAINER")
@click.pass_context
def attach(
    ctx: click.Context, detach_keys: str, no_stdin: bool, sig_proxy: bool, args: tuple[str, ...]
) -> None:
    """Attach local standard input, output, and error streams to a running container."""
    require_args(ctx, args, exact=1)
    status = run_attach(
        ctx.obj, args[0], detach_keys=detach_keys, no_stdin=no_stdin, sig_proxy=sig_proxy
    )
    if status:
        ctx.exit(status)


def run_attach(
    cli: Cli,
    container: str,
    *,
    detach_keys: str = "",
    no_stdin: bool = False,
    sig_proxy: bool = True,
) -> int:
    from pyd_cli.streams import StreamSession
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    stubs = cli.client().containers
    info = stubs.Inspect(pb.InspectContainerRequest(id=container))
    if not info.state.running:
        raise CliError("You cannot attach to a stopped container, start it first")
    if info.state.paused:
        raise CliError("You cannot attach to a paused container, unpause it first")
    if info.state.restarting:
        raise CliError("You cannot attach to a restarting container, wait until it is running")
    # docker's In.CheckTty: a TTY session needs a terminal here to put in raw mode;
    # from a pipe it would wait forever for a detach key or an exit that never comes.
    if not no_stdin and info.config.tty and not sys.stdin.isatty():
        raise CliError("the input device is not a TTY")
    stdin = not no_stdin and info.config.open_stdin
    tty = info.config.tty
    session = StreamSession(
        stubs.Attach,
        pb.AttachRequest(
            start=pb.AttachStart(
                id=info.id,
                stdin=stdin,
                stdout=True,
                stderr=True,
                stream=True,
                detach_keys=detach_keys,
            )
        ),
        pb.AttachRequest,
        stdin=stdin,
        tty=tty,
        detach_keys=to_bytes(detach_keys or DEFAULT_DETACH_KEYS),
        kill=(lambda sig: stubs.Kill(pb.KillContainerRequest(id=info.id, signal=sig)))
        if sig_proxy and not tty
        else None,
    )
    result = session.run()
    if result.detached:
        return 0
    if result.error:
        raise CliError(f"Error response from daemon: {result.error}")
    return result.exit_code or 0

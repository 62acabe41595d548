"""`pyd start`: start stopped containers, optionally attached, or restore them
from a checkpoint (`--checkpoint`, `--checkpoint-dir`) or from a checkpoint
image on another host (`--lazy-restore ADDRESS`, issue 6).

Containers.Start(id, checkpoint, checkpoint_dir, lazy_restore, detach_keys).
"""

from __future__ import annotations

import click

from pyd_cli.cmdutil import cancel, error_text, first_message, require_args
from pyd_cli.context import Cli
from pyd_cli.errors import EXIT_DAEMON, EXIT_ERROR, CliError
from pyd_cli.opts import FlagType
from pyd_cli.opts.detachkeys import DEFAULT_DETACH_KEYS, parse_detach_keys, to_bytes


@click.command("start", short_help="Start one or more stopped containers")
@click.option("-a", "--attach", is_flag=True, help="Attach STDOUT/STDERR and forward signals")
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN")
@click.option("--checkpoint", default="", help="Restore from this checkpoint")
@click.option("--checkpoint-dir", default="", help="Use a custom checkpoint storage directory")
@click.option(
    "--lazy-restore",
    default="",
    metavar="ADDRESS",
    help="pyd: restore from a checkpoint image served by another host; "
    "memory pages are fetched on first touch",
)
@click.option(
    "--detach-keys",
    default="",
    type=FlagType("string", parse_detach_keys),
    help="Override the key sequence for detaching a container",
)
@click.option("--sig-proxy/--no-sig-proxy", default=True, hidden=True)
@click.argument("containers", nargs=-1, metavar="CONTAINER...")
@click.pass_context
def start(
    ctx: click.Context,
    attach: bool,
    interactive: bool,
    checkpoint: str,
    checkpoint_dir: str,
    lazy_restore: str,
    detach_keys: str,
    sig_proxy: bool,
    containers: tuple[str, ...],
) -> None:
    """Start one or more stopped containers."""
    require_args(ctx, containers, min=1)
    cli: Cli = ctx.obj
    restoring = bool(checkpoint or lazy_restore)
    # docker start passes daemon errors through with status 1; a refused restore is
    # 125 in pyd (README: "Restoring onto another image is refused (exit 125)").
    cli.daemon_error_status = EXIT_DAEMON if restoring else EXIT_ERROR
    if attach or interactive:
        if len(containers) > 1:
            raise CliError("you cannot start and attach multiple containers at once", 1)
        status = start_attached(
            cli,
            containers[0],
            stdin=interactive,
            checkpoint=checkpoint,
            checkpoint_dir=checkpoint_dir,
            lazy_restore=lazy_restore,
            detach_keys=detach_keys,
            sig_proxy=sig_proxy,
        )
        if status:
            ctx.exit(status)
        return
    if restoring:
        if len(containers) > 1:
            raise CliError("you cannot restore multiple containers at once", EXIT_ERROR)
        from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

        # docker's restore path: the daemon's error alone, no "failed to start" summary
        cli.client().containers.Start(
            pb.StartContainerRequest(
                id=containers[0],
                checkpoint=checkpoint,
                checkpoint_dir=checkpoint_dir,
                lazy_restore=lazy_restore,
                detach_keys=detach_keys,
            )
        )
        return
    run_start(cli, containers, detach_keys=detach_keys)


def run_start(cli: Cli, containers: tuple[str, ...], *, detach_keys: str = "") -> None:
    """Start each container, echoing its name; docker's error summary at the end."""
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    stubs = cli.client().containers
    errors: list[str] = []
    failed: list[str] = []
    for name in containers:
        try:
            stubs.Start(pb.StartContainerRequest(id=name, detach_keys=detach_keys))
        except Exception as exc:
            from pyd_cli.client import is_rpc_error, map_rpc_error

            if is_rpc_error(exc):
                errors.append(map_rpc_error(exc, cli.host).message)
            else:
                errors.append(error_text(cli, exc))
            failed.append(name)
            continue
        click.echo(name)
    if errors:
        # docker (API 1.47, docker-cli 27/28) adds the summary line even for a single
        # container, and exits 1
        errors.append(f"Error: failed to start containers: {', '.join(failed)}")
        raise CliError("\n".join(errors), EXIT_ERROR)


def start_attached(
    cli: Cli,
    container: str,
    *,
    stdin: bool,
    checkpoint: str = "",
    checkpoint_dir: str = "",
    lazy_restore: str = "",
    detach_keys: str = "",
    sig_proxy: bool = True,
) -> int:
    """`start -a [-i]`: attach first, then start; exit with the container's code."""
    from pyd_cli.streams import StreamSession
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    stubs = cli.client().containers
    info = stubs.Inspect(pb.InspectContainerRequest(id=container))
    tty = info.config.tty
    cid = info.id
    attach_stdin = stdin and info.config.open_stdin
    wait = stubs.Wait(pb.WaitContainerRequest(id=cid, condition="next-exit"))
    first_message(wait)
    session = StreamSession(
        stubs.Attach,
        pb.AttachRequest(
            start=pb.AttachStart(
                id=cid,
                stdin=attach_stdin,
                stdout=True,
                stderr=True,
                stream=True,
                detach_keys=detach_keys,
            )
        ),
        pb.AttachRequest,
        stdin=attach_stdin,
        tty=tty,
        detach_keys=to_bytes(detach_keys or DEFAULT_DETACH_KEYS),
        kill=(lambda sig: stubs.Kill(pb.KillContainerRequest(id=cid, signal=sig)))
        if sig_proxy
        else None,
    )
    # The server acknowledges an attach with an empty output frame; wait for it
    # (briefly) so early output is not lost.
    session.wait_attached(0.5)

    def start() -> None:
        try:
            stubs.Start(
                pb.StartContainerRequest(
                    id=cid,
                    checkpoint=checkpoint,
                    checkpoint_dir=checkpoint_dir,
                    lazy_restore=lazy_restore,
                    detach_keys=detach_keys,
                )
            )
        except Exception:
            cancel(wait)
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
                break
    except Exception:
        if status is None:
            raise
    return status or 0

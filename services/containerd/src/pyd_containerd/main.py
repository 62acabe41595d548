"""pyd-containerd: the command line of the daemon."""

from __future__ import annotations

import sys

import click

from pyd_containerd import __version__
from pyd_containerd.config import DEFAULT_ROOT, DEFAULT_STATE


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", default=DEFAULT_ROOT, show_default=True, help="Persistent data.")
@click.option("--state", default=DEFAULT_STATE, show_default=True, help="Runtime state.")
@click.option("-a", "--address", default="",
              help="gRPC socket path [default: STATE/containerd.sock]")
@click.option("--debug", is_flag=True, help="Debug logging.")
@click.option("--runtime-binary", default="pyd-runc", show_default=True,
              help="OCI runtime the shims run (any runc-compatible CLI, e.g. runc).")
@click.option("--runtime-root", default="", help="Runtime --root [default: STATE/runc].")
@click.version_option(__version__, "-v", "--version", prog_name="pyd-containerd",
                      message="%(prog)s %(version)s")
def main(root: str, state: str, address: str, debug: bool, runtime_binary: str,
         runtime_root: str) -> None:
    """An industry-standard-shaped container runtime daemon, in Python."""
    from pyd_containerd.config import Config
    from pyd_proto import logs

    logs.setup("containerd", debug=debug)
    address = address.removeprefix("unix://")
    try:
        from pyd_containerd.server import make_server

        daemon = make_server(Config(root=root, state=state, address=address, debug=debug,
                                    runtime_binary=runtime_binary, runtime_root=runtime_root))
        daemon.run()
    except Exception as e:  # one clear line, not a traceback, for a daemon that cannot start
        if debug:
            raise
        click.echo(f"pyd-containerd: {e}", err=True)
        sys.exit(1)

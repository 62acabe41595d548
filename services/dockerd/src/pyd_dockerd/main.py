"""pyd-dockerd: the command line of the engine daemon."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from pyd_dockerd import __version__
from pyd_dockerd.config import DEFAULT_ROOT, DEFAULT_STATE

if TYPE_CHECKING:
    from pyd_dockerd.daemon.daemon import Daemon


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", default=DEFAULT_ROOT, show_default=True, help="Persistent data.")
@click.option("--state", "--exec-root", "state", default=DEFAULT_STATE, show_default=True,
              help="Runtime state (sockets, pid files).")
@click.option("-H", "--host", default="", help="Socket to serve on, unix://PATH, or fd:// "
              "/ fd://N for sockets passed by systemd (the default when it passed any) "
              "[default: unix://STATE/pyd.sock]")
@click.option("--containerd", default="", help="Address of an external pyd-containerd; "
              "without it dockerd starts and supervises its own.")
@click.option("--runtime", default="pyd-runc", show_default=True,
              help="runc-compatible runtime binary.")
@click.option("--cgroup-parent", default="pyd", show_default=True,
              help="Parent cgroup of every container.")
@click.option("--bridge-name", default="pyd0", show_default=True,
              help="Linux bridge of the default network (one per stack on a host).")
@click.option("--bip", default="", help="Address and prefix of the default bridge, e.g. "
              "172.17.0.1/16 [default: the first free default pool].")
@click.option("--iptables/--no-iptables", default=True, show_default=True,
              help="Manage iptables rules (NAT, published ports).")
@click.option("--checkpoint-listen", default="", metavar="HOST:PORT",
              help="Serve this host's checkpoints to other pyd hosts (off by default).")
@click.option("--tlscacert", default="", help="CA certificate peers must be signed by.")
@click.option("--tlscert", default="", help="This daemon's TLS certificate.")
@click.option("--tlskey", default="", help="This daemon's TLS key.")
@click.option("--docker-host", default="", metavar="unix://PATH",
              help="Socket of the Docker Engine REST API [default: unix://STATE/docker.sock].")
@click.option("--docker-api/--no-docker-api", default=True, show_default=True,
              help="Serve the Docker Engine REST API (for docker and docker-py).")
@click.option("-D", "--debug", is_flag=True, help="Debug logging.")
@click.version_option(__version__, "-v", "--version", prog_name="pyd-dockerd",
                      message="%(prog)s version %(version)s")
def main(root: str, state: str, host: str, containerd: str, runtime: str, cgroup_parent: str,
         bridge_name: str, bip: str, iptables: bool, checkpoint_listen: str, tlscacert: str,
         tlscert: str, tlskey: str, docker_host: str, docker_api: bool,
         debug: bool) -> None:
    """The pyd engine daemon."""
    from pyd_dockerd.config import Config
    from pyd_proto import logs

    logs.setup("dockerd", debug=debug)
    if host and not host.startswith(("unix://", "fd://")):
        click.echo(f"pyd-dockerd: unsupported host {host!r}: only unix://PATH or fd://",
                   err=True)
        sys.exit(1)
    from pyd_proto.activation import listen_fds, listeners_for

    # Taken (and hidden from children: containerd, shims) whatever -H says.
    activated_fds = listen_fds()
    if not host and activated_fds:
        host = "fd://"
    if docker_host and not docker_host.startswith("unix://"):
        click.echo(f"pyd-dockerd: unsupported --docker-host {docker_host!r}: only "
                   "unix://PATH", err=True)
        sys.exit(1)
    if any((tlscacert, tlscert, tlskey)) and not all((tlscacert, tlscert, tlskey)):
        click.echo("pyd-dockerd: --tlscacert, --tlscert and --tlskey go together", err=True)
        sys.exit(1)
    try:
        listeners = []
        if host.startswith("fd://"):
            listeners = listeners_for(host.removeprefix("fd://"), activated_fds)
        from pyd_dockerd.server import make_server, prepare

        server, core = make_server(Config(root=root, state=state, host=host,
                                          containerd=containerd, runtime=runtime,
                                          cgroup_parent=cgroup_parent,
                                          bridge_name=bridge_name, bip=bip,
                                          iptables=iptables,
                                          checkpoint_listen=checkpoint_listen,
                                          tlscacert=tlscacert, tlscert=tlscert,
                                          tlskey=tlskey, docker_host=docker_host,
                                          docker_api=docker_api, debug=debug))
        if listeners:
            server.serve_listeners(listeners)
        server.status = lambda: _status(core)
        server.run(prepare=lambda: prepare(server, core))
    except Exception as e:  # one clear line for a daemon that cannot start
        if debug:
            raise
        click.echo(f"pyd-dockerd: {e}", err=True)
        sys.exit(1)


def _status(core: Daemon) -> str:
    """The part of `systemctl status pyd-dockerd`'s status line after "serving on"."""
    containers = core.containers.list()
    running = sum(1 for c in containers if c.state.running)
    return f"{len(containers)} containers, {running} running"

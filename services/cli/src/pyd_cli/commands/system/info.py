"""`pyd info`: system-wide information, in the shape `docker info` prints.

pyd adds its own lines (sockets, containerd, runtime, CRIU, checkpoint serving)
after Docker's; warnings go to stderr as "WARNING: ..." lines, as docker does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pyd_cli.context import Cli
from pyd_cli.formatting import bytes_size, format_one
from pyd_cli.versioninfo import VERSION

if TYPE_CHECKING:
    from pyd_proto.pyd.dockerd.v1 import system_pb2


@click.command("info", short_help="Display system-wide information")
@click.option(
    "-f",
    "--format",
    "fmt",
    default="",
    metavar="string",
    help="Format output using a custom template: 'json' or a Go template, e.g. '{{.CriuVersion}}'",
)
@click.pass_obj
def info(cli: Cli, fmt: str) -> None:
    """Display system-wide information."""
    run_info(cli, fmt)


def client_info(cli: Cli) -> dict[str, Any]:
    """The client half (docker's ClientInfo)."""
    return {"Version": VERSION, "Host": cli.host, "Debug": cli.debug}


def _line(out: list[str], label: str, value: Any, indent: int = 1) -> None:
    """docker's fprintlnNonEmpty: skip empty values."""
    if value not in ("", None):
        out.append(f"{' ' * indent}{label}: {value}")


def render_client(client: dict[str, Any]) -> list[str]:
    return [
        "Client:",
        f" Version:    {client['Version']}",
        f" Host:       {client['Host']}",
        f" Debug Mode: {'true' if client['Debug'] else 'false'}",
    ]


def render_server(i: system_pb2.InfoResponse) -> list[str]:
    """Server lines in docker info's order, then pyd's own."""
    out = ["Server:"]
    out += [
        f" Containers: {i.containers}",
        f"  Running: {i.containers_running}",
        f"  Paused: {i.containers_paused}",
        f"  Stopped: {i.containers_stopped}",
        f" Images: {i.images}",
    ]
    _line(out, "Server Version", i.server_version)
    _line(out, "Storage Driver", i.driver)
    out += [f"  {d.key}: {d.value}" for d in i.driver_status]
    _line(out, "Logging Driver", i.logging_driver)
    _line(out, "Cgroup Driver", i.cgroup_driver)
    _line(out, "Cgroup Version", i.cgroup_version)
    if i.runtimes:
        out.append(" Runtimes: " + " ".join(sorted(i.runtimes)))
    _line(out, "Default Runtime", i.default_runtime)
    _line(out, "Init Binary", i.init_binary)
    _line(out, "containerd version", i.containerd_commit.id)
    _line(out, "runc version", i.runc_commit.id)
    _line(out, "init version", i.init_commit.id)
    if i.security_options:
        out.append(" Security Options:")
        out += [f"  {o.removeprefix('name=')}" for o in i.security_options]
    _line(out, "Kernel Version", i.kernel_version)
    _line(out, "Operating System", i.operating_system)
    _line(out, "OSType", i.os_type)
    _line(out, "Architecture", i.architecture)
    out.append(f" CPUs: {i.ncpu}")
    out.append(f" Total Memory: {bytes_size(i.mem_total)}")
    _line(out, "Name", i.name)
    _line(out, "ID", i.id)
    _line(out, "Pyd Root Dir", i.docker_root_dir)
    _line(out, "Exec Root", i.exec_root)
    out.append(f" Debug Mode: {'true' if i.debug else 'false'}")
    if i.debug:
        out.append(f"  File Descriptors: {i.n_fd}")
        out.append(f"  Threads: {i.n_goroutines}")
        out.append(f"  EventsListeners: {i.n_events_listener}")
    _line(out, "HTTP Proxy", i.http_proxy)
    _line(out, "HTTPS Proxy", i.https_proxy)
    _line(out, "No Proxy", i.no_proxy)
    if i.labels:
        out.append(" Labels:")
        out += [f"  {label}" for label in i.labels]
    out.append(f" Experimental: {'true' if i.experimental_build else 'false'}")
    out.append(f" Live Restore Enabled: {'true' if i.live_restore_enabled else 'false'}")
    # pyd's own.
    if i.hosts:
        out.append(" Hosts: " + " ".join(i.hosts))
    _line(out, "Docker API Socket", i.docker_api_socket)
    if i.containerd_address:
        managed = " (managed)" if i.containerd_managed else ""
        out.append(f" Containerd Address: {i.containerd_address}{managed}")
    _line(out, "Containerd Root", i.containerd_root)
    _line(out, "Containerd State", i.containerd_state)
    _line(out, "Runtime", i.runtime_name)
    _line(out, "Runtime Path", i.runtime_path)
    _line(out, "Runtime Root", i.runtime_root)
    out.append(f" CRIU Version: {i.criu_version or 'not found'}")
    _line(out, "CRIU Path", i.criu_path)
    out.append(f" Checkpoint Serving: {i.checkpoint_listen or 'off'}")
    _line(out, "Default Bridge", i.default_bridge)
    _line(out, "Cgroup Parent", i.cgroup_parent)
    for key, value in sorted(i.extra.items()):
        _line(out, key, value)
    return out


def run_info(cli: Cli, fmt: str) -> None:
    """Fetch System.Info and print it; the client half comes first either way."""
    from google.protobuf import empty_pb2

    client = client_info(cli)
    if fmt:
        from pyd_cli.formatting import to_docker_dict

        resp = cli.client().system.Info(empty_pb2.Empty())
        data = to_docker_dict(resp)
        data["ClientInfo"] = client
        click.echo(format_one(fmt, data), nl=False)
        return
    click.echo("\n".join(render_client(client)))
    click.echo()
    resp = cli.client().system.Info(empty_pb2.Empty())
    click.echo("\n".join(render_server(resp)))
    for warning in resp.warnings:
        click.echo(f"WARNING: {warning}", err=True)

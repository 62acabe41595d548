"""`pyd version`: client and server versions, in the shape `docker version` prints.

The client section is printed even when the daemon cannot be reached; the error
follows as one line on stderr, exit 1 (docker's behaviour).
"""

from __future__ import annotations

import platform
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from pyd_cli.context import Cli
from pyd_cli.errors import CliError
from pyd_cli.formatting import ansic, format_one, reformat_date, tabwrite
from pyd_cli.versioninfo import API_VERSION, VERSION, build_time, git_commit, go_arch

if TYPE_CHECKING:
    from pyd_proto.pyd.dockerd.v1 import system_pb2


@click.command("version", short_help="Show the pyd version information")
@click.option(
    "-f",
    "--format",
    "fmt",
    default="",
    metavar="string",
    help="Format output using a custom template: 'json', or a Go template "
    "such as '{{.Server.Version}}'",
)
@click.pass_obj
def version(cli: Cli, fmt: str) -> None:
    """Show the pyd version information."""
    run_version(cli, fmt)


def client_info() -> dict[str, Any]:
    """The client half, with the Go field names `--format` templates use."""
    built = build_time()
    return {
        "Platform": {"Name": ""},
        "Version": VERSION,
        "APIVersion": API_VERSION,
        "DefaultAPIVersion": API_VERSION,
        "PythonVersion": platform.python_version(),
        "GitCommit": git_commit(),
        "BuildTime": ansic(datetime.fromtimestamp(built)) if built is not None else "",
        "Os": sys.platform,
        "Arch": go_arch(),
    }


def server_info(resp: system_pb2.VersionResponse) -> dict[str, Any]:
    """The server half (types.Version), with Go field names."""
    return {
        "Platform": {"Name": resp.platform.name},
        "Components": [
            {"Name": c.name, "Version": c.version, "Details": dict(c.details)}
            for c in resp.components
        ],
        "Version": resp.version,
        "APIVersion": resp.api_version,
        "MinAPIVersion": resp.min_api_version,
        "GitCommit": resp.git_commit,
        "PythonVersion": resp.python_version,
        "Os": resp.os,
        "Arch": resp.arch,
        "KernelVersion": resp.kernel_version,
        "Experimental": resp.experimental,
        "BuildTime": resp.build_time,
    }


def _engine_details(server: dict[str, Any], details: dict[str, str]) -> dict[str, str]:
    """Engine details, falling back to the top-level fields (docker fills both)."""
    return {
        "ApiVersion": details.get("ApiVersion") or server["APIVersion"],
        "MinAPIVersion": details.get("MinAPIVersion") or server["MinAPIVersion"],
        "PythonVersion": details.get("PythonVersion") or server["PythonVersion"],
        "GitCommit": details.get("GitCommit") or server["GitCommit"],
        "BuildTime": details.get("BuildTime") or server["BuildTime"],
        "Os": details.get("Os") or server["Os"],
        "Arch": details.get("Arch") or server["Arch"],
        "Experimental": details.get("Experimental")
        or ("true" if server["Experimental"] else "false"),
    }


def render_version(client: dict[str, Any], server: dict[str, Any] | None) -> str:
    """docker version's default template, through a tabwriter (minwidth 20, padding 1)."""
    title = f"Client: {client['Platform']['Name']}" if client["Platform"]["Name"] else "Client:"
    lines = [
        title,
        f" Version:\t{client['Version']}",
        f" API version:\t{client['APIVersion']}",
        f" Python version:\t{client['PythonVersion']}",
        f" Git commit:\t{client['GitCommit']}",
        f" Built:\t{client['BuildTime']}",
        f" OS/Arch:\t{client['Os']}/{client['Arch']}",
    ]
    if server is not None:
        name = server["Platform"]["Name"]
        lines += ["", f"Server: {name}" if name else "Server:"]
        components = server["Components"] or [
            {"Name": "Engine", "Version": server["Version"], "Details": {}}
        ]
        for comp in components:
            lines.append(f" {comp['Name']}:")
            if comp["Name"] == "Engine":
                d = _engine_details(server, comp["Details"])
                lines += [
                    f"  Version:\t{comp['Version'] or server['Version']}",
                    f"  API version:\t{d['ApiVersion']} (minimum version {d['MinAPIVersion']})",
                    f"  Python version:\t{d['PythonVersion']}",
                    f"  Git commit:\t{d['GitCommit']}",
                    f"  Built:\t{reformat_date(d['BuildTime'])}",
                    f"  OS/Arch:\t{d['Os']}/{d['Arch']}",
                    f"  Experimental:\t{d['Experimental']}",
                ]
            else:
                lines.append(f"  Version:\t{comp['Version']}")
                lines += [f"  {k}:\t{v}" for k, v in sorted(comp["Details"].items())]
    text = tabwrite("\n".join(lines) + "\n", minwidth=20, padding=1)
    # An empty value would leave the padding behind; docker's output has it too,
    # but trailing blanks only get in the way of diffs and greps.
    return "".join(line.rstrip() + "\n" for line in text.splitlines())


def run_version(cli: Cli, fmt: str) -> None:
    """Fetch System.Version, print both halves, then fail if the daemon did."""
    from pyd_cli.client import check_api_version, is_rpc_error, map_rpc_error

    client = client_info()
    server: dict[str, Any] | None = None
    failure: CliError | None = None
    try:
        from google.protobuf import empty_pb2

        resp = cli.client(check_version=False).system.Version(empty_pb2.Empty())
        server = server_info(resp)
    except Exception as exc:
        if not is_rpc_error(exc):
            raise
        failure = map_rpc_error(exc, cli.host)
    if server is not None:
        try:
            check_api_version(server["APIVersion"], server["MinAPIVersion"])
        except CliError as err:
            failure = err
    if fmt:
        click.echo(format_one(fmt, {"Client": client, "Server": server}), nl=False)
    else:
        click.echo(render_version(client, server), nl=False)
    if failure is not None:
        raise failure

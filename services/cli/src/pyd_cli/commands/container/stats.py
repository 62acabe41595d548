"""`pyd stats`: live resource usage (Containers.Stats), docker's columns and maths."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import click

from pyd_cli.cmdutil import error_text
from pyd_cli.context import Cli
from pyd_cli.errors import CliError
from pyd_cli.formatting import bytes_size, format_output, human_size_precision, truncate_id

DEFAULT_TABLE = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}"
    "\t{{.BlockIO}}\t{{.PIDs}}"
)
HEADERS = {
    "ID": "CONTAINER ID",
    "Container": "CONTAINER",
    "Name": "NAME",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}


def cpu_percent(s: Any) -> float:
    """docker's calculateCPUPercentUnix over one stats sample (precpu in it)."""
    cpu_delta = float(s.cpu_stats.cpu_usage.total_usage) - float(
        s.precpu_stats.cpu_usage.total_usage
    )
    system_delta = float(s.cpu_stats.system_cpu_usage) - float(s.precpu_stats.system_cpu_usage)
    online = float(s.cpu_stats.online_cpus) or float(len(s.cpu_stats.cpu_usage.percpu_usage))
    if system_delta > 0 and cpu_delta > 0:
        return cpu_delta / system_delta * online * 100.0
    return 0.0


def mem_usage_no_cache(mem: Any) -> float:
    """docker's calculateMemUsageUnixNoCache (cgroup v1, then v2 key)."""
    stats = dict(mem.stats)
    if "total_inactive_file" in stats and stats["total_inactive_file"] < mem.usage:
        return float(mem.usage - stats["total_inactive_file"])
    inactive = stats.get("inactive_file", 0)
    if inactive < mem.usage:
        return float(mem.usage - inactive)
    return float(mem.usage)


class StatsEntry:
    """docker's formatter.StatsEntry/statsContext fields."""

    def __init__(self, name: str, s: Any | None, *, trunc: bool) -> None:
        self._name = name
        self._s = s
        self._trunc = trunc

    @property
    def Container(self) -> str:
        return self._name

    @property
    def ID(self) -> str:
        ident = self._s.id if self._s is not None and self._s.id else self._name
        return truncate_id(ident) if self._trunc else ident

    @property
    def Name(self) -> str:
        if self._s is not None and self._s.name:
            return str(self._s.name).lstrip("/")
        return "--"

    @property
    def CPUPerc(self) -> str:
        return "--" if self._s is None else f"{cpu_percent(self._s):.2f}%"

    @property
    def MemUsage(self) -> str:
        if self._s is None:
            return "-- / --"
        used = mem_usage_no_cache(self._s.memory_stats)
        return f"{bytes_size(used)} / {bytes_size(float(self._s.memory_stats.limit))}"

    @property
    def MemPerc(self) -> str:
        if self._s is None:
            return "--"
        limit = float(self._s.memory_stats.limit)
        pct = mem_usage_no_cache(self._s.memory_stats) / limit * 100.0 if limit else 0.0
        return f"{pct:.2f}%"

    @property
    def NetIO(self) -> str:
        if self._s is None:
            return "--"
        rx = sum(n.rx_bytes for n in self._s.networks.values())
        tx = sum(n.tx_bytes for n in self._s.networks.values())
        return f"{human_size_precision(float(rx), 3)} / {human_size_precision(float(tx), 3)}"

    @property
    def BlockIO(self) -> str:
        if self._s is None:
            return "--"
        read = write = 0
        for e in self._s.blkio_stats.io_service_bytes_recursive:
            if e.op[:1].lower() == "r":
                read += e.value
            elif e.op[:1].lower() == "w":
                write += e.value
        return f"{human_size_precision(float(read), 3)} / {human_size_precision(float(write), 3)}"

    @property
    def PIDs(self) -> str:
        return "--" if self._s is None else str(self._s.pids_stats.current)

    def to_dict(self) -> dict[str, str]:
        keys = (
            "BlockIO",
            "CPUPerc",
            "Container",
            "ID",
            "MemPerc",
            "MemUsage",
            "Name",
            "NetIO",
            "PIDs",
        )
        return {k: getattr(self, k) for k in keys}


@click.command(
    "stats", short_help="Display a live stream of container(s) resource usage statistics"
)
@click.option(
    "-a", "--all", "show_all", is_flag=True, help="Show all containers (default shows just running)"
)
@click.option("--format", "fmt", default="", help="Format output using a custom template")
@click.option(
    "--no-stream", is_flag=True, help="Disable streaming stats and only pull the first result"
)
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@click.argument("containers", nargs=-1, metavar="[CONTAINER...]")
@click.pass_obj
def stats(
    cli: Cli, show_all: bool, fmt: str, no_stream: bool, no_trunc: bool, containers: tuple[str, ...]
) -> None:
    """Display a live stream of container(s) resource usage statistics."""
    from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

    stubs = cli.client().containers
    names = list(containers)
    if not names:
        listed = stubs.List(pb.ListContainersRequest(all=show_all))
        names = [c.id for c in listed.containers]
    latest: dict[str, Any] = {}
    errors: dict[str, str] = {}

    def collect(name: str) -> None:
        try:
            for sample in stubs.Stats(pb.ContainerStatsRequest(id=name, stream=not no_stream)):
                latest[name] = sample
                if no_stream:
                    return
        except Exception as exc:
            errors[name] = error_text(cli, exc)

    threads = [threading.Thread(target=collect, args=(n,), daemon=True) for n in names]
    for t in threads:
        t.start()

    def render() -> str:
        rows = [StatsEntry(n, latest.get(n), trunc=not no_trunc) for n in names if n not in errors]
        return format_output(fmt, rows, default_table=DEFAULT_TABLE, headers=HEADERS)

    if no_stream:
        for t in threads:
            t.join()
        click.echo(render(), nl=False)
        if errors and containers:
            raise CliError("\n".join(errors.values()))
        return
    try:
        while True:
            time.sleep(1.0)
            sys.stdout.write("\033[2J\033[H" + render())
            sys.stdout.flush()
            if names and all(not t.is_alive() for t in threads):
                break
    except KeyboardInterrupt:
        return

"""`pyd stats`: live resource usage (Containers.Stats), docker's columns and maths.

As docker-cli's stats.go: without CONTAINER arguments the set of containers follows
the daemon's events (System.Events, subscribed before the first List so no start is
missed): a container that starts is added, one that dies is dropped (with `-a`,
created containers are added and stopped ones stay, with zero figures).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import click

from pyd_cli.cmdutil import error_text, filters_proto
from pyd_cli.context import Cli
from pyd_cli.errors import CliError
from pyd_cli.formatting import bytes_size, format_output, human_size_precision, truncate_id

if TYPE_CHECKING:
    from pyd_cli.client import Client

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


# docker-cli renders every 500 ms and gives a silent stream 2 s before drawing anyway
RENDER_INTERVAL = 0.5
FIRST_SAMPLE_WAIT = 2.0


class ContainerStats:
    """One container's stats stream and its latest sample (docker's `Stats` + collect)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.sample: Any | None = None
        self.error = ""
        self.first = threading.Event()
        self.done = threading.Event()
        self._call: Any | None = None
        self._cancelled = False
        self._lock = threading.Lock()

    def collect(self, cli: Cli, client: Client, stream: bool) -> None:
        """Read samples until the stream ends, fails or is cancelled (thread body)."""
        from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb

        try:
            call: Any = client.containers.Stats(
                pb.ContainerStatsRequest(id=self.key, stream=stream)
            )
            with self._lock:
                self._call = call
                cancelled = self._cancelled
            if cancelled:
                call.cancel()
            for sample in call:
                self.sample, self.error = sample, ""
                self.first.set()
                if not stream:
                    break
        except Exception as exc:
            if not self._cancelled:
                self.error = error_text(cli, exc)
        finally:
            self.first.set()
            self.done.set()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            call = self._call
        if call is not None:
            call.cancel()


class StatsSet:
    """The containers shown, in the order they were added (docker's `stats` type)."""

    def __init__(self, cli: Cli, *, stream: bool) -> None:
        self._cli = cli
        self._client = cli.client()
        self._stream = stream
        self._lock = threading.Lock()
        self._items: dict[str, ContainerStats] = {}

    def add(self, key: str) -> bool:
        """Start collecting for `key` unless it is already shown."""
        with self._lock:
            if key in self._items:
                return False
            item = self._items[key] = ContainerStats(key)
        threading.Thread(
            target=item.collect, args=(self._cli, self._client, self._stream), daemon=True
        ).start()
        return True

    def remove(self, key: str) -> None:
        with self._lock:
            item = self._items.pop(key, None)
        if item is not None:
            item.cancel()

    def snapshot(self) -> list[ContainerStats]:
        with self._lock:
            return list(self._items.values())

    def wait_first(self, timeout: float | None) -> None:
        """Block until every container has a first sample (or failed), as docker's
        waitFirst does; `timeout` bounds the whole wait."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for item in self.snapshot():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            item.first.wait(left)


class EventFollower:
    """docker's monitorContainerEvents: container events → StatsSet.add/remove."""

    def __init__(self, cli: Cli, stats_set: StatsSet, *, show_all: bool) -> None:
        self._cli = cli
        self._set = stats_set
        self._show_all = show_all
        self._call: Any | None = None
        self._stopped = False
        self.error = ""

    def subscribe(self) -> None:
        """Open the event stream; replaying from now on, so events between this call
        and the first List are not lost even before the daemon has subscribed us."""
        from pyd_proto.pyd.dockerd.v1 import system_pb2

        actions = ["start"] + (["create"] if self._show_all else ["die"])
        request = system_pb2.EventsRequest(
            filters=filters_proto([("type", "container")] + [("event", a) for a in actions])
        )
        request.since.FromNanoseconds(time.time_ns())
        self._call = self._cli.client().system.Events(request)
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        assert self._call is not None
        try:
            for event in self._call:
                key = truncate_id(event.actor.id)
                if event.action in ("start", "create"):
                    self._set.add(key)
                elif event.action == "die" and not self._show_all:
                    self._set.remove(key)
        except Exception as exc:
            if not self._stopped:
                self.error = error_text(self._cli, exc)

    def stop(self) -> None:
        self._stopped = True
        if self._call is not None:
            self._call.cancel()


def frame(rendered: str) -> str:
    """One redraw as docker-cli writes it: cursor home, each line followed by
    erase-to-end-of-line, then erase below (the table may have shrunk)."""
    lines = rendered.split("\n")
    return "\033[H" + "".join(line + "\033[K\n" for line in lines) + "\033[J"


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

    stats_set = StatsSet(cli, stream=not no_stream)
    follower: EventFollower | None = None
    follow = not containers
    if follow:
        if not no_stream:
            follower = EventFollower(cli, stats_set, show_all=show_all)
            follower.subscribe()
        listed = cli.client().containers.List(pb.ListContainersRequest(all=show_all))
        for c in listed.containers:
            stats_set.add(truncate_id(c.id))
    else:
        for name in containers:
            stats_set.add(name)

    def render() -> str:
        rows = [
            StatsEntry(item.key, None if item.error else item.sample, trunc=not no_trunc)
            for item in stats_set.snapshot()
        ]
        return format_output(fmt, rows, default_table=DEFAULT_TABLE, headers=HEADERS)

    try:
        stats_set.wait_first(None if no_stream else FIRST_SAMPLE_WAIT)
        items = stats_set.snapshot()
        # docker: any named container without a first sample fails the whole
        # command, before the table is printed.
        errors = [item.error for item in items if item.error]
        if errors and not follow:
            raise CliError("\n".join(errors))
        if no_stream:
            # Listed ones that went away meanwhile are left out.
            for item in items:
                if item.error:
                    stats_set.remove(item.key)
            click.echo(render(), nl=False)
            return
        while True:
            sys.stdout.write(frame(render()))
            sys.stdout.flush()
            items = stats_set.snapshot()
            if not follow and all(item.done.is_set() for item in items):
                break
            if follower is not None and follower.error:
                raise CliError(follower.error)
            time.sleep(RENDER_INTERVAL)
    except KeyboardInterrupt:
        return
    finally:
        if follower is not None:
            follower.stop()
        for item in stats_set.snapshot():
            item.cancel()

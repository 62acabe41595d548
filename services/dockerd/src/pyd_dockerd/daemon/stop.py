"""`docker stop`, `kill`, `restart`, `pause`, `unpause` (moby daemon/stop.go, kill.go)."""

from __future__ import annotations

import signal as signals
from typing import TYPE_CHECKING

from pyd_proto.errdefs import FailedPrecondition, InvalidArgument, NotFound

if TYPE_CHECKING:
    from pyd_dockerd.daemon.daemon import Daemon

DEFAULT_STOP_TIMEOUT = 10


def parse_signal(value: str | int) -> int:
    """`SIGKILL`, `KILL`, `kill`, `9` → 9 (Docker's signal.ParseSignal)."""
    if isinstance(value, int):
        return value
    text = value.strip().upper()
    if not text:
        return int(signals.SIGKILL)
    if text.isdigit():
        num = int(text)
        if num <= 0 or num > 64:
            raise InvalidArgument(f"Invalid signal: {value}")
        return num
    name = text if text.startswith("SIG") else f"SIG{text}"
    try:
        return int(signals.Signals[name])
    except KeyError:
        raise InvalidArgument(f"Invalid signal: {value}") from None


def kill(d: Daemon, ref: str, sig: str | int = "SIGKILL") -> None:
    num = parse_signal(sig)
    c = d.containers.get(ref)
    if not c.state.running:
        raise FailedPrecondition(f"Container {c.id} is not running")
    if num in (signals.SIGKILL, signals.SIGTERM, signals.SIGINT):
        c.manually_stopped = True
        d.containers.save(c)
    try:
        d.containerd.kill_task(c.id, num)
    except NotFound:
        pass  # it exited meanwhile: the monitor records it
    d.events.emit("container", "kill", c.id, {"name": c.name, "signal": str(num)})


def stop(d: Daemon, ref: str, timeout: int | None = None, sig: str = "") -> None:
    """SIGTERM (or the image's StopSignal), wait `timeout` seconds, then SIGKILL."""
    c = d.containers.get(ref)
    if not c.state.running:
        return  # docker stop of a stopped container succeeds silently
    if timeout is None:
        timeout = int(c.config.get("StopTimeout") or DEFAULT_STOP_TIMEOUT)
    c.manually_stopped = True
    d.containers.save(c)
    if c.state.paused:
        d.containerd.resume_task(c.id)
    first = parse_signal(sig or c.config.get("StopSignal") or "SIGTERM")
    try:
        d.containerd.kill_task(c.id, first)
    except NotFound:
        pass
    if timeout < 0 or not d.monitor.wait_stopped(c.id, float(timeout) if timeout >= 0 else None):
        try:
            d.containerd.kill_task(c.id, int(signals.SIGKILL), all=True)
        except NotFound:
            pass
        if not d.monitor.wait_stopped(c.id, 30.0):
            raise FailedPrecondition(f"container {c.id} did not stop after SIGKILL")
    d.events.emit("container", "stop", c.id, {"name": c.name})


def restart(d: Daemon, ref: str, timeout: int | None = None) -> None:
    from pyd_dockerd.daemon.start import start

    stop(d, ref, timeout)
    start(d, ref)
    c = d.containers.get(ref)
    d.events.emit("container", "restart", c.id, {"name": c.name})


def pause(d: Daemon, ref: str) -> None:
    with d.locked(ref) as c:
        c.check_can_pause()
        d.containerd.pause_task(c.id)
        c.state.set_paused()
        d.containers.save(c)
    d.events.emit("container", "pause", c.id, {"name": c.name})


def unpause(d: Daemon, ref: str) -> None:
    with d.locked(ref) as c:
        c.check_can_unpause()
        d.containerd.resume_task(c.id)
        c.state.set_unpaused()
        d.containers.save(c)
    d.events.emit("container", "unpause", c.id, {"name": c.name})

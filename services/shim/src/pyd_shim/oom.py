"""OOM notifications for a container's memory cgroup (v1: memory.oom_control + eventfd).

One thread per shim blocks on an eventfd the kernel signals when the cgroup hits
its limit; each signal becomes a /tasks/oom event.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable

from pyd_shim import cgroups
from pyd_shim.log import get_logger

log = get_logger("pyd.shim.oom")


def watch(pid: int, on_oom: Callable[[], None]) -> bool:
    """Start watching the memory cgroup of `pid`; False if that is not possible here."""
    try:
        memory = cgroups.paths(pid).get("memory")
    except OSError:
        return False
    if not memory or not os.path.exists(os.path.join(memory, "memory.oom_control")):
        return False
    try:
        efd = os.eventfd(0, os.EFD_CLOEXEC)
        ctl = os.open(os.path.join(memory, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
        with open(os.path.join(memory, "cgroup.event_control"), "w") as f:
            f.write(f"{efd} {ctl}")
    except OSError as e:
        log.debug("no oom notifications", extra={"cgroup": memory, "error": str(e)})
        return False
    threading.Thread(target=_loop, args=(efd, ctl, memory, on_oom), daemon=True,
                     name="oom").start()
    return True


def _loop(efd: int, ctl: int, memory: str, on_oom: Callable[[], None]) -> None:
    try:
        while True:
            os.eventfd_read(efd)
            if not os.path.isdir(memory):  # the cgroup was removed: the kernel says so too
                return
            log.info("container hit its memory limit", extra={"cgroup": memory})
            on_oom()
    except OSError:
        pass
    finally:
        for fd in (efd, ctl):
            with contextlib.suppress(OSError):
                os.close(fd)

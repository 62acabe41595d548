"""`docker rm` (moby daemon/delete.go): refuse a running container unless forced, then
remove the task, containerd's record, the rootfs snapshot, the network endpoints, the
files and the record — in that order, so a crash half way leaves a removable record."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from typing import TYPE_CHECKING

from pyd_dockerd.container.state import Status
from pyd_dockerd.daemon.start import remove_stale_task
from pyd_dockerd.daemon.stop import kill
from pyd_proto.errdefs import AlreadyExists, FailedPrecondition, NotFound

if TYPE_CHECKING:
    from pyd_dockerd.daemon.daemon import Daemon

log = logging.getLogger("pyd.dockerd.delete")


def remove(d: Daemon, ref: str, *, force: bool = False, volumes: bool = False) -> None:
    c = d.containers.get(ref)
    if c.state.running:
        if not force:
            state = "paused" if c.state.paused else "running"
            raise AlreadyExists(
                f"You cannot remove a {state} container {c.id}. Stop the container before "
                "attempting removal or force remove")
        with contextlib.suppress(FailedPrecondition, NotFound):
            if c.state.paused:
                d.containerd.resume_task(c.id)
            kill(d, c.id, "SIGKILL")
        if not d.monitor.wait_stopped(c.id, 30.0):
            raise FailedPrecondition(f"could not kill running container {c.id}, "
                                     "cannot remove")
    with d.locked(c.id) as c:
        previous = c.state.status
        if not c.state.set_removal_in_progress():
            raise FailedPrecondition(f"removal of container {c.name} is already in progress")
        d.containers.save(c)
        try:
            # Also a task dockerd never recorded (a start a dockerd kill cut short): it is
            # killed, not left running without a container.
            remove_stale_task(d, c.id)
            with contextlib.suppress(NotFound):
                d.containerd.delete_container(c.id)
            with contextlib.suppress(NotFound):
                d.containerd.remove_snapshot(c.id)
            d.network.remove_endpoints(c)
            d.network.remove_sandbox(c)
            d.volumes.release_container(c.id, remove_anonymous=volumes)
        except BaseException:
            c.state.reset_removal_in_progress(previous)
            with contextlib.suppress(Exception):
                d.containers.save(c)
            raise
        shutil.rmtree(c.root, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(d.config.state, "stdin", c.id))
        d.containers.delete(c.id)
    d.monitor.forget(c.id)
    d.events.emit("container", "destroy", c.id, {"name": c.name})
    log.info("removed", extra={"id": c.id})


def mark_interrupted_removals_dead(d: Daemon) -> list[str]:
    """At dockerd start: a container still marked removing was being removed when the
    previous dockerd was killed. As moby's restore does, it becomes dead, not removed:
    whether its volumes were to go too is unknown, so a new `rm` finishes the job."""
    marked = []
    for c in d.containers.list():
        if c.state.status is Status.REMOVING:
            c.state.set_dead()
            d.containers.save(c)
            marked.append(c.id)
            log.warning("removal was interrupted; container marked dead", extra={"id": c.id})
    return marked

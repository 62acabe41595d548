"""`docker start` (moby daemon/start.go): network sandbox, OCI spec, containerd
container and task — or a restore from a checkpoint, local (`checkpoint`) or on
another host (`lazy_restore`). A failed start undoes every step and records why."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import TYPE_CHECKING, Any

from pyd_dockerd.container.container import Container
from pyd_dockerd.container.state import Status
from pyd_dockerd.daemon import oci
from pyd_dockerd.volumes import service as volume_service
from pyd_proto.errdefs import FailedPrecondition, NotFound, PydError, Unavailable

if TYPE_CHECKING:
    from pyd_dockerd.daemon.daemon import Daemon

log = logging.getLogger("pyd.dockerd.start")


def spec_options(d: Daemon, c: Container, netns: str | None,
                 entries: list[dict[str, Any]]) -> oci.SpecOptions:
    """What the container's Config and HostConfig decide about its OCI spec."""
    cfg, hc = c.config, c.host_config
    argv = [c.path, *c.args]
    if hc.get("Init"):
        # moby binds its docker-init (tini) from the host over /sbin/docker-init.
        init = init_binary()
        if init:
            entries = [*entries, {"destination": INIT_PATH, "type": "bind", "source": init,
                                  "options": ["bind", "ro"]}]
        elif not os.path.exists(os.path.join(d.rootfs_hint(c), INIT_PATH.lstrip("/"))):
            raise FailedPrecondition('exec: "docker-init": executable file not found in $PATH')
        argv = [INIT_PATH, "--", *argv]
    uid, gid, groups = oci.resolve_user(d.rootfs_hint(c), str(cfg.get("User") or ""))
    return oci.SpecOptions(
        args=argv, env=list(cfg.get("Env") or []), cwd=cfg.get("WorkingDir") or "/",
        uid=uid, gid=gid, additional_gids=groups, hostname=cfg.get("Hostname") or "",
        tty=bool(cfg.get("Tty")), read_only=bool(hc.get("ReadonlyRootfs")),
        privileged=bool(hc.get("Privileged")), cap_add=list(hc.get("CapAdd") or []),
        cap_drop=list(hc.get("CapDrop") or []), memory=int(hc.get("Memory") or 0),
        memory_swap=int(hc.get("MemorySwap") or 0), nano_cpus=int(hc.get("NanoCpus") or 0),
        cpu_shares=int(hc.get("CpuShares") or 0), pids_limit=int(hc.get("PidsLimit") or 0),
        cgroups_path=f"/{d.config.cgroup_parent.strip('/')}/{c.id}", network_ns=netns,
        extra_mounts=entries, annotations={"io.pyd.container.name": c.name})


INIT_PATH = "/sbin/docker-init"
# docker-init is tini; Debian's static tini runs in any image, libc or not.
INIT_BINARIES = ("docker-init", "tini-static")


def init_binary() -> str:
    """The host's init for `--init`, or "" when none is installed."""
    import shutil

    for name in INIT_BINARIES:
        found = shutil.which(name) or shutil.which(name, path="/usr/local/bin:/usr/bin:/bin")
        if found:
            return found
    return ""


def start(d: Daemon, ref: str, *, checkpoint: str = "", checkpoint_dir: str = "",
          lazy_restore: str = "", restart: bool = False) -> Container:
    """Start (or restore) `ref`; returns the running container."""
    with d.locked(ref) as c:
        if c.state.status is Status.RUNNING:
            if checkpoint or lazy_restore:
                raise FailedPrecondition(f"container {c.name} is already running; cannot "
                                         "restore into a running container")
            return c  # docker start on a running container is a no-op
        if not (restart and c.state.status is Status.RESTARTING):
            c.check_can_start()  # the restart policy starts what it marked restarting
        if not (checkpoint or lazy_restore) and c.state.pending_checkpoint:
            # Created with --from-checkpoint: the first start (by the user or the
            # restart policy at boot) restores it.
            checkpoint = c.state.pending_checkpoint
        image_dir = ""
        if checkpoint:
            from pyd_dockerd.daemon import checkpoint as checkpoints

            image_dir = checkpoints.for_restore(d, c, checkpoint, checkpoint_dir).path
        page_server = ""
        fetched = None
        if lazy_restore:
            from pyd_dockerd.daemon import lazy_restore as lazy

            log.info("start", extra={"id": c.id, "lazy_restore": lazy_restore})
            c.state.lazy_restore = {"Address": lazy_restore, "Status": "fetching"}
            fetched = lazy.fetch(d, c, lazy_restore)
            image_dir, page_server = fetched.image_dir, fetched.page_server
        netns: str | None = None
        undo: list[Any] = []
        try:
            netns = d.network.create_sandbox(c)
            undo.append(lambda: d.network.remove_sandbox(c))
            d.network.attach(c, netns)
            undo.append(lambda: d.network.detach(c))
            entries = d.network.etc_mounts(c) + volume_service.oci_mounts(c.mounts, d.volumes)
            spec = oci.build_spec(spec_options(d, c, netns, entries))
            remove_stale_task(d, c.id)  # left by a start a dockerd kill cut short
            with contextlib.suppress(NotFound):
                d.containerd.delete_container(c.id)  # left by a crash between steps
            d.containerd.create_container(c.id, c.config.get("Image", ""), spec,
                                          snapshot_key=c.id)
            undo.append(lambda: d.containerd.delete_container(c.id))
            rootfs = d.containerd.snapshot_mounts(c.id)
            log_uri = f"jsonfile://{c.log_path}"
            stdin = d.stdin_fifo(c) if c.config.get("OpenStdin") else ""
            pid = d.containerd.create_task(
                c.id, stdout=log_uri, stderr=log_uri, terminal=bool(c.config.get("Tty")),
                stdin=stdin, rootfs=rootfs, checkpoint_dir=image_dir,
                lazy_restore=page_server, lazy_restore_tls=fetched.tls if fetched else None)
            undo.append(lambda: d.containerd.delete_task(c.id))
            # As upstream: a task created from a checkpoint is restored by Start.
            pid = d.containerd.start_task(c.id) or pid
            c.state.set_running(pid, _start_time(pid), restored_from=checkpoint)
            if fetched is None:
                c.state.lazy_restore = {}  # State describes the current run only
            else:
                c.state.lazy_restore = {
                    "Address": lazy_restore, "PageServer": page_server, "Status": "running",
                    "BytesBeforeRunning": fetched.bytes_received,
                    "MemoryBytes": fetched.memory_bytes,
                    "SecondsToRunning": round(fetched.seconds, 3)}
            if not restart:
                c.manually_stopped = False
            d.containers.save(c)
        except BaseException as e:
            for step in reversed(undo):
                with contextlib.suppress(Exception):
                    step()
            message = str(e) if isinstance(e, PydError) else f"{type(e).__name__}: {e}"
            c.state.set_error(message, exit_code=_exit_code_for(message))
            with contextlib.suppress(Exception):
                d.containers.save(c)
            if c.auto_remove and not restart:
                # moby: a --rm container whose start failed is removed at once.
                from pyd_dockerd.daemon import delete

                with contextlib.suppress(Exception):
                    delete.remove(d, c.id, force=True, volumes=True)
            raise
    d.events.emit("container", "start", c.id, {"name": c.name, "image": c.config["Image"]})
    d.monitor.watch(c.id)
    return c


def cleanup_interrupted(d: Daemon, timeout: float = 30.0) -> list[str]:
    """At dockerd start, before it serves: a task of a container that dockerd has not
    recorded as running was left by a start or restore that a dockerd kill cut short
    (the shim finished it alone). Nothing tracks its network or state, so it is killed
    and deleted: the container is cleanly not started, its checkpoint intact for
    another try. Returns the ids cleaned."""
    recorded = {c.id: c for c in d.containers.list()}
    try:
        tasks = d.containerd.list_tasks()
    except PydError as e:
        log.warning("cannot list tasks", extra={"error": str(e)})
        return []
    cleaned = []
    for task in tasks:
        c = recorded.get(task.container_id or task.id)
        if c is None or c.state.running:
            continue
        log.info("removing the task of an interrupted start", extra={"id": c.id})
        remove_stale_task(d, c.id, timeout)
        with contextlib.suppress(PydError):
            d.containerd.delete_container(c.id)
        cleaned.append(c.id)
    return cleaned


def remove_stale_task(d: Daemon, cid: str, timeout: float = 30.0) -> None:
    """Kill and delete the task of a container dockerd has not recorded as running (left
    by a start a dockerd kill cut short, which the shim or containerd may still be
    finishing): until the task is gone, or `timeout`."""
    import signal
    import time

    deadline = time.monotonic() + timeout
    while True:
        # A restore may still be under way in the shim: kill and delete until the
        # task is gone.
        with contextlib.suppress(PydError):
            d.containerd.kill_task(cid, signal.SIGKILL, all=True)
        try:
            d.containerd.delete_task(cid)
        except NotFound:
            return
        except Unavailable:
            raise  # containerd is down: nothing to wait for here
        except PydError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
            continue
        return


def _exit_code_for(message: str) -> int:
    """Docker's exit codes for a start that never ran the command."""
    low = message.lower()
    if "executable file not found" in low or "no such file or directory" in low:
        return 127
    if "permission denied" in low:
        return 126
    return 128


def _start_time(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return 0

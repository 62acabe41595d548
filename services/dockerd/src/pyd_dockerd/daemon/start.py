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
from pyd_proto.errdefs import NotFound, PydError

if TYPE_CHECKING:
    from pyd_dockerd.daemon.daemon import Daemon

log = logging.getLogger("pyd.dockerd.start")


def spec_options(d: Daemon, c: Container, netns: str | None,
                 entries: list[dict[str, Any]]) -> oci.SpecOptions:
    """What the container's Config and HostConfig decide about its OCI spec."""
    cfg, hc = c.config, c.host_config
    argv = [c.path, *c.args]
    if hc.get("Init"):
        argv = ["/sbin/docker-init", "--", *argv] if os.path.exists(
            os.path.join(d.rootfs_hint(c), "sbin/docker-init")) else argv
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


def start(d: Daemon, ref: str, *, checkpoint: str = "", checkpoint_dir: str = "",
          lazy_restore: str = "", restart: bool = False) -> Container:
    """Start (or restore) `ref`; returns the running container."""
    with d.locked(ref) as c:
        if c.state.status is Status.RUNNING:
            if checkpoint or lazy_restore:
                from pyd_proto.errdefs import FailedPrecondition

                raise FailedPrecondition(f"container {c.name} is already running; cannot "
                                         "restore into a running container")
            return c  # docker start on a running container is a no-op
        if not (restart and c.state.status is Status.RESTARTING):
            c.check_can_start()  # the restart policy starts what it marked restarting
        image_dir = d.checkpoint_path(c, checkpoint, checkpoint_dir) if checkpoint else ""
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
                lazy_restore=page_server)
            undo.append(lambda: d.containerd.delete_task(c.id))
            # As upstream: a task created from a checkpoint is restored by Start.
            pid = d.containerd.start_task(c.id) or pid
            c.state.set_running(pid, _start_time(pid), restored_from=checkpoint)
            if fetched is not None:
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
            raise
    d.events.emit("container", "start", c.id, {"name": c.name, "image": c.config["Image"]})
    d.monitor.watch(c.id)
    return c


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

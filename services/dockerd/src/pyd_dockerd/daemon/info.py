"""What `pyd info` shows: where things live, what drives containers, host facts."""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import dataclass, field

from pyd_dockerd import __version__
from pyd_dockerd.daemon.daemon import Daemon


@dataclass
class SystemInfo:
    id: str
    name: str
    server_version: str
    containers: int = 0
    containers_running: int = 0
    containers_paused: int = 0
    containers_stopped: int = 0
    images: int = 0
    driver: str = "overlayfs"
    logging_driver: str = "json-file"
    cgroup_driver: str = "cgroupfs"
    cgroup_version: str = "1"
    kernel_version: str = ""
    operating_system: str = ""
    os_type: str = "linux"
    architecture: str = ""
    ncpu: int = 0
    mem_total: int = 0
    docker_root_dir: str = ""
    exec_root: str = ""
    hosts: list[str] = field(default_factory=list)
    containerd_address: str = ""
    containerd_managed: bool = True
    containerd_root: str = ""
    containerd_state: str = ""
    runtime_name: str = ""
    runtime_path: str = ""
    runtime_root: str = ""
    criu_version: str = ""
    criu_path: str = ""
    live_restore_enabled: bool = True
    cgroup_parent: str = ""
    debug: bool = False
    warnings: list[str] = field(default_factory=list)


def cgroup_version() -> str:
    """'2' on a unified hierarchy, else '1' (this machine: v1 plus v2 at /unified)."""
    return "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1"


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def system_info(daemon: Daemon) -> SystemInfo:
    cfg = daemon.config
    rt = daemon.components.get("runtime")
    criu = daemon.components.get("criu")
    warnings = [f"WARNING: {c.name}: {c.error}" for c in (rt, criu) if c.error]
    containers = daemon.containers.list()
    running = sum(1 for c in containers if c.state.running and not c.state.paused)
    paused = sum(1 for c in containers if c.state.paused)
    try:
        images = len(daemon.images.list())
    except Exception:  # containerd away: info still answers
        images = 0
    return SystemInfo(
        id=daemon.id, name=socket.gethostname(), server_version=__version__,
        containers=len(containers), containers_running=running, containers_paused=paused,
        containers_stopped=len(containers) - running - paused, images=images,
        cgroup_version=cgroup_version(), kernel_version=platform.release(),
        operating_system=_os_name(), architecture=platform.machine(), ncpu=os.cpu_count() or 0,
        mem_total=os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        docker_root_dir=cfg.root, exec_root=cfg.state,
        hosts=[cfg.host if cfg.socket_activated else f"unix://{cfg.socket_path}"],
        containerd_address=f"unix://{cfg.containerd_address}",
        containerd_managed=not cfg.containerd, containerd_root=cfg.containerd_root,
        containerd_state=cfg.containerd_state,
        runtime_name=rt.details.get("Name", cfg.runtime), runtime_path=rt.path,
        runtime_root=cfg.runtime_root, criu_version=criu.version, criu_path=criu.path,
        cgroup_parent=cfg.cgroup_parent, debug=cfg.debug, warnings=warnings)

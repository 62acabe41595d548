"""Helpers for tests and benchmarks: a busybox rootfs and OCI bundles (runc spec defaults)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import time
from typing import Any

BUSYBOX = "/bin/busybox"

SPEC: dict[str, Any] = {
    "ociVersion": "1.0.2-dev",
    "process": {
        "terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"],
        "cwd": "/",
        "capabilities": {k: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
                         for k in ("bounding", "effective", "permitted", "ambient")},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "pyd",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
    ],
    "linux": {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
        "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                        "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                          "/proc/sysrq-trigger"],
    },
}


def busybox_rootfs(path: str) -> str:
    """A rootfs holding busybox-static and a symlink per applet."""
    for d in ("bin", "proc", "dev", "sys", "tmp", "etc"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(path, "bin", "busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for a in applets:
        link = os.path.join(path, "bin", a)
        if a != "busybox" and not os.path.lexists(link):
            os.symlink("busybox", link)
    return path


def spec(args: list[str], *, cgroups_path: str = "", terminal: bool = False,
         readonly: bool = True) -> dict[str, Any]:
    s = copy.deepcopy(SPEC)
    s["process"]["args"] = list(args)
    s["process"]["terminal"] = terminal
    s["root"]["readonly"] = readonly
    if cgroups_path:
        s["linux"]["cgroupsPath"] = cgroups_path
    return s


def bundle(path: str, args: list[str], *, rootfs_from: str = "", cgroups_path: str = "",
           terminal: bool = False) -> str:
    """An OCI bundle at `path`: config.json and a busybox rootfs (copied from `rootfs_from`
    when given, which is much faster than making a new one)."""
    os.makedirs(path, exist_ok=True)
    rootfs = os.path.join(path, "rootfs")
    if rootfs_from:
        shutil.copytree(rootfs_from, rootfs, symlinks=True)
    else:
        busybox_rootfs(rootfs)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(spec(args, cgroups_path=cgroups_path, terminal=terminal), f, indent=1)
    return path


def pyd_runc_create_works() -> tuple[bool, str]:
    """Whether pyd-runc implements `create` yet (it is written concurrently)."""
    exe = shutil.which("pyd-runc") or os.path.join(os.path.dirname(sys.executable), "pyd-runc")
    if not os.path.exists(exe):
        return False, "pyd-runc is not installed"
    try:
        out = subprocess.run([exe, "create", "--help"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"pyd-runc create --help: {e}"
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or [""]
        return False, f"pyd-runc create is not implemented yet: {tail[0]}"
    return True, ""


def pss_kib(pid: int) -> int:
    """Proportional set size of a process (sum of Pss in smaps_rollup), KiB."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                total += int(line.split()[1])
    return total


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(interval)


def kill_pidfile(path: str) -> None:
    """SIGKILL the process whose pid `path` holds, if it still runs."""
    try:
        with open(path) as f:
            pid = int(f.read().strip())
        os.kill(pid, 9)
    except (OSError, ValueError):
        pass


def runtime_cleanup(binary: str, root: str) -> None:
    """Force-delete every container a runtime has under `root`."""
    if not os.path.isdir(root):
        return
    for id in os.listdir(root):
        subprocess.run([binary, "--root", root, "delete", "--force", id],
                       capture_output=True, timeout=30, check=False)


def remove_cgroup(parent: str, timeout: float = 5.0) -> None:
    """rmdir a test's cgroup parent (and its children) in every hierarchy; killed
    processes may take a moment to leave, so busy directories are retried."""
    parent = parent.strip("/")
    if not parent:
        return
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
            if not os.path.isdir(base):
                continue
            for ctrl in ["", *os.listdir(base)]:
                top = os.path.join(base, ctrl, parent)
                if not os.path.isdir(top):
                    continue
                for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
                    try:
                        os.rmdir(dirpath)
                    except FileNotFoundError:
                        pass
                    except OSError:
                        left.append(dirpath)
        if not left or time.monotonic() > deadline:
            return
        time.sleep(0.1)


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{os.urandom(3).hex()}"


def process_gone(pid: int) -> bool:
    """The process exited (a zombie not yet reaped by an unrelated parent counts)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def unmount_under(path: str) -> None:
    """Lazily unmount everything mounted at or below `path` (a test's leftovers)."""
    from pyd_shim.mount import mountpoints_under

    for point in mountpoints_under(path):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def kill_shim(bundle: str) -> None:
    """SIGKILL a bundle's shim and remove its socket (a killed shim cannot)."""
    kill_pidfile(os.path.join(bundle, "shim.pid"))
    try:
        with open(os.path.join(bundle, "address")) as f:
            os.unlink(f.read().strip().removeprefix("unix://"))
    except OSError:
        pass


def kill_mentioning(path: str) -> None:
    """SIGKILL every process whose command line names something under `path` (shims and
    zygotes of a test's private root), except this one."""
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if path.encode() in cmd:
            try:
                os.kill(int(pid), 9)
            except OSError:
                pass

"""Helpers shared by the checkpoint/restore tests and benchmarks.

A *counter bundle* is an OCI bundle whose process is a tiny static C program:
it allocates and touches N MiB, then once every 100 ms increments a counter
kept in its memory and rewrites ``/counter`` in the rootfs with the value and
whether a sample of its memory still holds the pattern it wrote.  Restoring it
proves that memory came back: the counter continues instead of starting over,
and the status stays ``ok``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

COUNTER_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL

int main(int argc, char **argv) {
    unsigned long mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 16;
    unsigned long npages = mib * 256UL;
    unsigned long counter = 0, i, probe = 0;
    int bad = 0, fd, nul;
    char line[64];
    unsigned char *mem;
    struct timespec ts = {0, 100 * 1000 * 1000};

    /* Own stdio, so the checkpoint does not depend on what the runtime passed. */
    nul = open("/dev/null", O_RDWR);
    if (nul >= 0) { dup2(nul, 0); dup2(nul, 1); dup2(nul, 2); if (nul > 2) close(nul); }
    fd = open("/counter", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return 2;

    mem = malloc(npages * PAGE + PAGE);
    if (!mem) return 3;
    mem = (unsigned char *)(((unsigned long)mem + PAGE - 1) & ~(PAGE - 1));
    for (i = 0; i < npages; i++) {
        unsigned long v = i * 2654435761UL + 12345;
        memcpy(mem + i * PAGE, &v, sizeof(v));
        mem[i * PAGE + PAGE - 1] = (unsigned char)i;
    }
    for (;;) {
        /* check a rotating sample of pages: lazily restored memory must be right */
        for (i = 0; i < 64 && npages; i++, probe++) {
            unsigned long p = probe % npages, v;
            memcpy(&v, mem + p * PAGE, sizeof(v));
            if (v != p * 2654435761UL + 12345 || mem[p * PAGE + PAGE - 1] != (unsigned char)p)
                bad = 1;
        }
        counter++;
        snprintf(line, sizeof(line), "%020lu %s\n", counter, bad ? "BAD" : "ok ");
        pwrite(fd, line, strlen(line), 0);
        nanosleep(&ts, NULL);
    }
}
"""

BUSYBOX = "/usr/bin/busybox"


def _cache_dir() -> Path:
    d = Path(os.environ.get("PYD_TEST_CACHE", "/tmp/pyd-criu-test-cache"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def counter_binary() -> Path:
    """Compile (once, cached by source hash) the static counter program."""
    digest = hashlib.sha256(COUNTER_C.encode()).hexdigest()[:16]
    out = _cache_dir() / f"counter-{digest}"
    if not out.exists():
        src = out.with_suffix(".c")
        src.write_text(COUNTER_C)
        tmp = out.with_suffix(".tmp")
        subprocess.run(["gcc", "-O2", "-static", "-o", str(tmp), str(src)], check=True)
        tmp.rename(out)
    return out


def counter_spec(mib: int, hostname: str = "counter") -> dict[str, object]:
    """The config.json runc's `spec` would write, running the counter program."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    return {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": ["/counter-bin", str(mib)],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": False},
        "hostname": hostname,
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                            "gid=5"],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/dev/mqueue",
                "type": "mqueue",
                "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
            ],
        },
    }


def make_counter_bundle(bundle: Path, mib: int) -> Path:
    """Write a busybox rootfs with the counter program and its config.json."""
    rootfs = bundle / "rootfs"
    for d in ("bin", "dev", "proc", "sys", "tmp", "etc"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    if os.path.exists(BUSYBOX):
        shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
        for tool in ("sh", "cat", "sleep", "ls"):
            link = rootfs / "bin" / tool
            if not link.exists():
                link.symlink_to("busybox")
    shutil.copy2(counter_binary(), rootfs / "counter-bin")
    (bundle / "config.json").write_text(json.dumps(counter_spec(mib), indent=1))
    return bundle


@dataclass
class CounterReading:
    value: int
    ok: bool


def read_counter(bundle: Path) -> CounterReading | None:
    """The counter's last line, or None before it first wrote one."""
    try:
        text = (bundle / "rootfs" / "counter").read_text()
    except FileNotFoundError:
        return None
    parts = text.split()
    if len(parts) < 2 or not parts[0].isdigit():
        return None
    return CounterReading(int(parts[0]), parts[1] == "ok")


def wait_counter(bundle: Path, above: int, timeout: float = 30.0) -> CounterReading:
    """Wait until the counter exceeds `above`; raise TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    last: CounterReading | None = None
    while time.monotonic() < deadline:
        last = read_counter(bundle)
        if last is not None and last.value > above:
            return last
        time.sleep(0.02)
    raise TimeoutError(f"counter did not pass {above}: last {last}")


class Runc:
    """A thin wrapper around an OCI runtime binary with runc's command line."""

    def __init__(self, binary: str | list[str], root: Path) -> None:
        self.argv = [binary] if isinstance(binary, str) else list(binary)
        self.root = root

    def __call__(self, *args: str, check: bool = True, timeout: float = 120,
                 ) -> subprocess.CompletedProcess[str]:
        cmd = [*self.argv, "--root", str(self.root), *args]
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {proc.returncode}: {proc.stderr.strip()}")
        return proc

    def state(self, cid: str) -> dict[str, object] | None:
        proc = self("state", cid, check=False)
        if proc.returncode != 0:
            return None
        result: dict[str, object] = json.loads(proc.stdout)
        return result

    def cleanup(self, cid: str) -> None:
        """Kill and delete `cid`, ignoring every error (for finalizers)."""
        with contextlib.suppress(Exception):
            self("kill", cid, "KILL", check=False, timeout=10)
        with contextlib.suppress(Exception):
            self("delete", "-f", cid, check=False, timeout=20)
        # Debian's runc 1.1 on a hybrid host leaves the container's cgroup2 twin behind
        # when a checkpoint ends the container (its delete then finds nothing to delete).
        with contextlib.suppress(OSError):
            os.rmdir(f"/sys/fs/cgroup/unified/{cid}")


@contextlib.contextmanager
def running_counter(runc: Runc, bundle: Path, cid: str) -> Iterator[CounterReading]:
    """Run the counter container detached; always kill and delete it afterwards."""
    try:
        runc("run", "-d", "--bundle", str(bundle), cid)
        yield wait_counter(bundle, 2)
    finally:
        runc.cleanup(cid)


def write_synthetic_image(
    path: Path, pid: int, entries: list[tuple[int, int, int]], pages_id: int = 1,
) -> bytes:
    """Write a minimal CRIU image dir (inventory, pstree, pagemap, pages) for unit tests.

    `entries` are (vaddr, nr_pages, flags); every PE_PRESENT page is filled with a
    pattern derived from its address.  Returns the pages file's content.
    """
    import struct

    from pyd_runtime.criu import images
    from pyd_runtime.criu.protowire import Message

    def image(magic: int, records: list[bytes], common: bool = True) -> bytes:
        head = struct.pack("<II", images.IMG_COMMON_MAGIC, magic) if common else struct.pack(
            "<I", magic)
        return head + b"".join(struct.pack("<I", len(r)) + r for r in records)

    path.mkdir(parents=True, exist_ok=True)
    inv = Message().varint(1, 2).encode()
    (path / "inventory.img").write_bytes(image(images.INVENTORY_MAGIC, [inv], common=False))
    ps = Message().varint(1, pid).varint(2, 0).varint(3, pid).varint(4, pid).varint(5, pid)
    (path / "pstree.img").write_bytes(image(images.PSTREE_MAGIC, [ps.encode()]))
    recs = [Message().varint(1, pages_id).encode()]
    data = bytearray()
    for vaddr, nr, flags in entries:
        recs.append(Message().varint(1, vaddr).varint(2, nr).varint(4, flags).encode())
        if flags & images.PE_PRESENT:
            for i in range(nr):
                page_addr = vaddr + i * images.PAGE_SIZE
                data += page_pattern(page_addr)
    (path / f"pagemap-{pid}.img").write_bytes(image(images.PAGEMAP_MAGIC, recs))
    (path / f"pages-{pages_id}.img").write_bytes(bytes(data))
    return bytes(data)


def page_pattern(page_addr: int) -> bytes:
    """4096 bytes that identify the page at `page_addr` (for synthetic images)."""
    return page_addr.to_bytes(8, "little") * 512


class ScratchCgroups:
    """A cgroup of its own in every v1 hierarchy (or under the v2 root), for tests.

    apply(pid) moves a process in; destroy() kills whatever is left and removes it.
    """

    def __init__(self, name: str) -> None:
        self.paths: list[Path] = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            pre, _, post = line.partition(" - ")
            fstype = post.split()[0] if post else ""
            mp = pre.split()[4]
            # only the host's hierarchies: a restore in progress mounts CRIU's own
            # "cgyard" copies under its work directory for a moment
            if not mp.startswith("/sys/fs/cgroup"):
                continue
            if fstype == "cgroup" or (fstype == "cgroup2" and mp == "/sys/fs/cgroup"):
                self.paths.append(Path(mp) / name)
        for p in self.paths:
            p.mkdir(exist_ok=True)
            if (p / "cpuset.cpus").exists() and not (p / "cpuset.cpus").read_text().strip():
                (p / "cpuset.cpus").write_text((p.parent / "cpuset.cpus").read_text())
                (p / "cpuset.mems").write_text((p.parent / "cpuset.mems").read_text())

    def apply(self, pid: int) -> None:
        for p in self.paths:
            (p / "cgroup.procs").write_text(str(pid))

    def pids(self) -> set[int]:
        out: set[int] = set()
        for p in self.paths:
            with contextlib.suppress(FileNotFoundError):
                out.update(int(x) for x in (p / "cgroup.procs").read_text().split())
        return out

    def destroy(self) -> None:
        import signal

        for _ in range(200):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
            time.sleep(0.02)
        for p in self.paths:
            for _ in range(100):
                try:
                    p.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def reap(pid: int, timeout: float = 10.0) -> None:
    """Kill `pid` and, if it is our child (restored with rst_sibling), reap it."""
    from pyd_runtime.criu.kernel import kill_and_reap

    kill_and_reap(pid, timeout)


@dataclass
class TlsSet:
    """PEM files for a TLS test: a CA, a server cert for 127.0.0.1, a client cert, and a
    client cert from another CA (which the server must refuse)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_cert: Path
    rogue_key: Path


def make_tls_set(d: Path) -> TlsSet:
    """Generate a TlsSet with the openssl command line."""
    d.mkdir(parents=True, exist_ok=True)

    def ossl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    def ca(name: str) -> None:
        ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", f"/CN={name}", "-keyout", str(d / f"{name}.key"),
             "-out", str(d / f"{name}.pem"))

    def leaf(name: str, issuer: str, cn: str, ext: str) -> None:
        (d / f"{name}.ext").write_text(ext)
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
             "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"))
        ossl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / f"{issuer}.pem"),
             "-CAkey", str(d / f"{issuer}.key"), "-CAcreateserial", "-days", "2",
             "-extfile", str(d / f"{name}.ext"), "-out", str(d / f"{name}.pem"))

    ca("ca")
    ca("rogue-ca")
    leaf("server", "ca", "127.0.0.1",
         "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    leaf("client", "ca", "destination", "extendedKeyUsage=clientAuth\n")
    leaf("rogue", "rogue-ca", "destination", "extendedKeyUsage=clientAuth\n")
    return TlsSet(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem",
                  d / "client.key", d / "rogue.pem", d / "rogue.key")

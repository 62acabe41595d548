"""End-to-end tests of the real `pyd-runc` binary, most of them run against Debian's
`runc` too (parametrized) so both runtimes must behave the same on the same bundle.

Every test gets its own --root under tmp_path and its own cgroup parent
(/pyd-test-<random>), and deletes its containers (delete --force) and cgroup parent in
a finalizer, pass or fail. The bundle's rootfs is busybox-static with one symlink per
applet, shared read-only by all tests of the session.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

PYD_RUNC = str(Path(sys.executable).parent / "pyd-runc")
RUNC = shutil.which("runc")
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
CG_ROOT = Path("/sys/fs/cgroup")
CG_HIERARCHIES = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                  "systemd", "unified")

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not os.path.exists(BUSYBOX), reason="needs busybox-static"),
]

RUNTIMES = ["pyd-runc", pytest.param("runc", marks=pytest.mark.skipif(
    RUNC is None, reason="Debian's runc is not installed"))]


@pytest.fixture(scope="session")
def rootfs():
    """busybox-static and a symlink per applet; shared, read-only in every spec. Not
    under pytest's 0700 tmp tree: a user-namespaced container must reach it."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="pyd-runc-rootfs-"))
    base.chmod(0o755)
    root = base / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for a in applets:
        if a != "busybox":
            os.symlink("busybox", root / "bin" / a)
    for d in ("proc", "sys", "dev", "tmp", "mnt", "etc", "root"):
        (root / d).mkdir()
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    yield root
    shutil.rmtree(base, ignore_errors=True)


def _mountinfo() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {" ".join(line.split()[3:5]) for line in f}


def _our_mounts(rt: Runtime) -> list[str]:
    """Host mounts that involve this test's files (other tests may mount elsewhere)."""
    return [m for m in _mountinfo() if str(rt.base) in m or str(rt.rootfs) in m]


class Runtime:
    """One runtime binary with a private --root and cgroup parent."""

    def __init__(self, name: str, base: Path, rootfs: Path) -> None:
        self.name = name
        self.binary = PYD_RUNC if name == "pyd-runc" else str(RUNC)
        self.root = base / f"root-{name}"
        self.base = base
        self.rootfs = rootfs
        self.cgroup_parent = f"pyd-test-{uuid.uuid4().hex[:10]}"

    def __call__(self, *args: str, check: bool = False, timeout: float = 30,
                 **kw) -> subprocess.CompletedProcess[str]:
        kw.setdefault("capture_output", True)
        return subprocess.run([self.binary, "--root", str(self.root), *args], text=True,
                              timeout=timeout, check=check, **kw)

    def bg(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A command that leaves a container process behind (create, run -d, exec -d):
        that process keeps the stdio it inherits, so no pipes: stderr goes through a
        file."""
        errf = self.base / f"stderr-{uuid.uuid4().hex[:6]}"
        with open(errf, "w") as err:
            res = subprocess.run([self.binary, "--root", str(self.root), *args], text=True,
                                 timeout=30, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=err)
        res.stderr = errf.read_text()
        return res

    def spec(self, args: list[str], **changes) -> dict:
        """runc's default spec over the shared rootfs, running ``args``."""
        from pyd_runtime.cli.spec import DEFAULT_SPEC

        spec = json.loads(json.dumps(DEFAULT_SPEC))
        spec["root"] = {"path": str(self.rootfs), "readonly": True}
        spec["process"]["args"] = args
        spec["process"]["terminal"] = False
        spec["linux"]["cgroupsPath"] = ""
        spec.update(changes)
        return spec

    def bundle(self, cid: str, spec: dict) -> Path:
        """A bundle directory for ``cid``; the cgroup goes under the test's parent."""
        b = self.base / f"bundle-{self.name}-{cid}"
        b.mkdir(exist_ok=True)
        if not spec["linux"].get("cgroupsPath"):
            spec["linux"]["cgroupsPath"] = f"/{self.cgroup_parent}/{cid}"
        (b / "config.json").write_text(json.dumps(spec))
        return b

    def run_in(self, args: list[str], cid: str = "c1", timeout: float = 30,
               **changes) -> subprocess.CompletedProcess[str]:
        """Foreground `run` of ``args`` in a fresh container."""
        spec = self.spec(args, **changes)
        b = self.bundle(cid, spec)
        return self("run", "--bundle", str(b), cid, timeout=timeout, stdin=subprocess.DEVNULL)

    def cgroup_dirs(self, cid: str) -> list[Path]:
        """Existing cgroup directories of a container of this test."""
        return [CG_ROOT / h / self.cgroup_parent / cid for h in CG_HIERARCHIES
                if (CG_ROOT / h / self.cgroup_parent / cid).exists()]

    def cleanup(self) -> None:
        """delete --force every container, then remove the cgroup parent."""
        if self.root.exists():
            for cid in os.listdir(self.root):
                self("delete", "--force", cid)
        for h in CG_HIERARCHIES:
            d = CG_ROOT / h / self.cgroup_parent
            if d.is_dir():
                for sub in d.iterdir():
                    if sub.is_dir():
                        _kill_cgroup(sub)
                        _rmdir(sub)
                _rmdir(d)


def _kill_cgroup(d: Path) -> None:
    try:
        for pid in (d / "cgroup.procs").read_text().split():
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass
    except OSError:
        pass


def _rmdir(d: Path) -> None:
    for _ in range(50):
        try:
            d.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


@pytest.fixture(params=RUNTIMES)
def rt(request, tmp_path, rootfs):
    r = Runtime(request.param, tmp_path, rootfs)
    yield r
    r.cleanup()


@pytest.fixture
def pyd(tmp_path, rootfs):
    r = Runtime("pyd-runc", tmp_path, rootfs)
    yield r
    r.cleanup()


def _wait_status(rt: Runtime, cid: str, want: str, timeout: float = 5) -> dict:
    deadline = time.monotonic() + timeout
    st: dict = {}
    while time.monotonic() < deadline:
        res = rt("state", cid)
        if res.returncode == 0:
            st = json.loads(res.stdout)
            if st["status"] == want:
                return st
        time.sleep(0.02)
    raise AssertionError(f"{rt.name}: {cid} never became {want}: {st}")


# -- what the container sees ----------------------------------------------------------

def test_container_sees_itself_as_pid_1(rt):
    res = rt.run_in(["sh", "-c", "echo $$"])
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "1"


def test_container_has_its_own_hostname(rt):
    res = rt.run_in(["hostname"], hostname="pyd-test-host")
    assert res.stdout.strip() == "pyd-test-host"
    assert socket.gethostname() != "pyd-test-host"


def test_container_sees_only_its_own_mounts(rt):
    res = rt.run_in(["cat", "/proc/self/mountinfo"])
    assert res.returncode == 0, res.stderr
    points = {line.split()[4] for line in res.stdout.splitlines()}
    assert "/" in points and "/proc" in points and "/dev" in points
    # nothing of the host's tree: no /work, no /tmp bind, no host /run
    assert not any(p.startswith(("/work", "/run", "/tmp", "/home")) for p in points), points
    assert str(rt.rootfs) not in res.stdout.replace(f"{rt.rootfs} ", "")


def test_container_has_no_host_network_devices(rt):
    res = rt.run_in(["ls", "/sys/class/net"])
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["lo"]


def test_exit_codes_pass_through(rt):
    assert rt.run_in(["sh", "-c", "exit 42"]).returncode == 42
    assert rt.run_in(["true"], cid="c2").returncode == 0
    # killed by a signal (from outside: init ignores its own): 128 + signal
    b = rt.bundle("c3", rt.spec(["sleep", "100"]))
    p = subprocess.Popen([rt.binary, "--root", str(rt.root), "run", "--bundle", str(b), "c3"],
                         stdin=subprocess.DEVNULL)
    try:
        _wait_status(rt, "c3", "running")
        assert rt("kill", "c3", "KILL").returncode == 0
        assert p.wait(timeout=10) == 137
    finally:
        p.kill()
        p.wait()


def test_state_keys_and_statuses_through_create_start_kill_delete(rt):
    b = rt.bundle("life", rt.spec(["sleep", "100"]))
    res = rt.bg("create", "--bundle", str(b), "life")
    assert res.returncode == 0, res.stderr
    st = json.loads(rt("state", "life").stdout)
    assert set(st) == {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created",
                       "owner"}
    assert st["status"] == "created" and st["pid"] > 0 and st["id"] == "life"
    assert st["bundle"] == str(b)
    # blocked before exec: still our init, not sleep
    assert Path(f"/proc/{st['pid']}/exe").resolve().name != "busybox"
    assert rt("start", "life").returncode == 0
    st = _wait_status(rt, "life", "running")
    assert Path(f"/proc/{st['pid']}/exe").resolve().name == "busybox"
    listed = json.loads(rt("list", "--format", "json").stdout)
    assert [c["id"] for c in listed] == ["life"] and listed[0]["status"] == "running"
    assert rt("kill", "life", "KILL").returncode == 0
    st = _wait_status(rt, "life", "stopped")
    assert st["pid"] == 0
    assert rt("delete", "life").returncode == 0
    res = rt("state", "life")
    assert res.returncode == 1 and "container does not exist" in res.stderr
    assert not rt.cgroup_dirs("life")


def test_memory_limit_gets_a_hog_oom_killed(rt):
    spec = rt.spec(["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"])
    spec["linux"]["resources"] = {"memory": {"limit": 16 << 20}}
    b = rt.bundle("hog", spec)
    res = rt("run", "--bundle", str(b), "hog")
    assert res.returncode == 137, (res.returncode, res.stderr)


def test_pids_limit_holds(rt):
    # A subshell forks until refused (and dies of it); the outer shell then execs.
    spec = rt.spec(["sh", "-c", "(for i in $(seq 30); do sleep 100 & done) 2>/dev/null; "
                                "exec sleep 100"])
    spec["linux"]["resources"] = {"pids": {"limit": 8}}
    b = rt.bundle("pids", spec)
    res = rt.bg("run", "-d", "--bundle", str(b), "pids")
    assert res.returncode == 0, res.stderr
    pids_dir = CG_ROOT / "pids" / rt.cgroup_parent / "pids"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and \
            int((pids_dir / "pids.events").read_text().split()[1]) == 0:
        time.sleep(0.05)
    assert int((pids_dir / "pids.events").read_text().split()[1]) > 0  # forks refused
    assert (pids_dir / "pids.max").read_text().strip() == "8"
    assert 1 < int((pids_dir / "pids.current").read_text()) <= 8
    assert _wait_status(rt, "pids", "running")


# -- isolation, checked from inside -------------------------------------------------------

def test_cannot_see_host_processes(rt):
    res = rt.run_in(["sh", "-c", "ls /proc | grep -E '^[0-9]+$'"])
    pids = res.stdout.split()
    assert "1" in pids and len(pids) <= 3, pids
    assert str(os.getpid()) not in pids or len(pids) <= 3


def test_cannot_mount(rt):
    res = rt.run_in(["mount", "-t", "tmpfs", "none", "/mnt"])
    assert res.returncode != 0
    assert "denied" in res.stderr or "not permitted" in res.stderr


def test_cannot_write_proc_sys_or_sysrq_trigger(rt):
    # Harmless values only: rewrite a sysctl with its own value; sysrq 'h' just logs help.
    script = ("v=$(cat /proc/sys/vm/overcommit_ratio); "
              "echo $v > /proc/sys/vm/overcommit_ratio && echo SYS-WRITTEN; "
              "echo h > /proc/sysrq-trigger && echo SYSRQ-WRITTEN; true")
    res = rt.run_in(["sh", "-c", script])
    assert "WRITTEN" not in res.stdout
    assert "Read-only file system" in res.stderr


def test_cannot_load_modules(rt):
    res = rt.run_in(["sh", "-c", "echo junk > /dev/shm/x.ko; insmod /dev/shm/x.ko; "
                                 "grep CapEff /proc/self/status"])
    assert res.returncode == 0
    cap_eff = int(res.stdout.split()[-1], 16)
    assert not cap_eff & (1 << 16)  # CAP_SYS_MODULE
    # EPERM; a kernel built without modules refuses with ENOSYS before the check
    assert "not permitted" in res.stderr or "not support" in res.stderr, res.stderr


def test_cannot_mknod_or_read_devices_beyond_the_default_set(rt):
    res = rt.run_in(["sh", "-c", "ls /dev; mknod /dev/shm/sda b 8 0 && echo MADE"])
    assert "MADE" not in res.stdout
    listed = set(res.stdout.split())
    assert listed <= {"core", "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm",
                      "stderr", "stdin", "stdout", "tty", "urandom", "zero"}, listed
    # Even with CAP_MKNOD and a dev-enabled tmpfs, the devices cgroup refuses the rest.
    spec = rt.spec(["sh", "-c", "mknod /tmp/mem c 1 1 && mknod /tmp/nul c 1 3 && "
                                "echo ok > /tmp/nul && echo NULL-OK; head -c1 /tmp/mem && "
                                "echo MEM-READ; true"])
    for s in ("bounding", "effective", "permitted"):
        spec["process"]["capabilities"][s].append("CAP_MKNOD")
    spec["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                           "options": ["mode=1777"]})
    b = rt.bundle("mk", spec)
    res = rt("run", "--bundle", str(b), "mk")
    assert "NULL-OK" in res.stdout, res.stderr
    assert "MEM-READ" not in res.stdout
    assert "not permitted" in res.stderr


def test_process_identity_capabilities_and_limits(rt):
    spec = rt.spec(["sh", "-c", "grep -E '^(Uid|Gid|Groups|Cap[A-Za-z]+|NoNewPrivs|Seccomp):'"
                                " /proc/self/status; ulimit -n; pwd; echo $FOO; "
                                "cat /proc/self/oom_score_adj"])
    spec["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5, 6]}
    spec["process"]["cwd"] = "/tmp"
    spec["process"]["env"].append("FOO=bar")
    spec["process"]["oomScoreAdj"] = 123
    spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]
    b = rt.bundle("who", spec)
    res = rt("run", "--bundle", str(b), "who")
    assert res.returncode == 0, res.stderr
    lines = dict(line.split(":", 1) for line in res.stdout.splitlines() if ":" in line)
    fields = {k: v.split() for k, v in lines.items()}
    assert fields["Uid"] == ["1000"] * 4 and fields["Gid"] == ["1000"] * 4
    assert fields["Groups"] == ["5", "6"]
    print(rt.name, {k: v for k, v in fields.items() if k.startswith("Cap")})
    want = (1 << 29) | (1 << 5) | (1 << 10)  # AUDIT_WRITE, KILL, NET_BIND_SERVICE
    assert int(fields["CapBnd"][0], 16) == want
    # runc's default spec lists no inheritable set, so the ambient ones cannot be raised
    # and a non-root exec keeps no capabilities at all (runc behaves the same).
    for k in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert int(fields[k][0], 16) == 0, (k, fields[k])
    assert fields["NoNewPrivs"] == ["1"]
    tail = [line for line in res.stdout.splitlines() if ":" not in line]
    assert tail == ["256", "/tmp", "bar", "123"]


def test_ambient_capabilities_survive_a_non_root_exec(rt):
    spec = rt.spec(["grep", "-E", "^Cap(Eff|Amb|Inh)", "/proc/self/status"])
    spec["process"]["user"] = {"uid": 1000, "gid": 1000}
    caps = spec["process"]["capabilities"]
    caps["inheritable"] = list(caps["ambient"])
    b = rt.bundle("amb", spec)
    res = rt("run", "--bundle", str(b), "amb")
    assert res.returncode == 0, res.stderr
    want = (1 << 29) | (1 << 5) | (1 << 10)
    for line in res.stdout.splitlines():
        assert int(line.split()[1], 16) == want, line


def test_seccomp_filter_from_the_spec_is_applied(rt):
    spec = rt.spec(["sh", "-c", "mkdir /dev/shm/d && echo MADE; echo alive"])
    spec["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                      "errnoRet": 1}]}
    b = rt.bundle("sec", spec)
    res = rt("run", "--bundle", str(b), "sec")
    assert "alive" in res.stdout and "MADE" not in res.stdout
    assert "not permitted" in res.stderr


def test_user_namespace_maps_ids(rt):
    spec = rt.spec(["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u"])
    spec["linux"]["namespaces"].append({"type": "user"})
    spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    b = rt.bundle("userns", spec)
    res = rt("run", "--bundle", str(b), "userns")
    assert res.returncode == 0, res.stderr
    rows = [line.split() for line in res.stdout.splitlines()]
    assert rows[0] == ["0", "100000", "65536"] and rows[1] == ["0", "100000", "65536"]
    assert rows[2] == ["0"]


def test_no_pivot_runs_the_container(rt):
    b = rt.bundle("np", rt.spec(["sh", "-c", "echo $$; ls /"]))
    res = rt("run", "--no-pivot", "--bundle", str(b), "np")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[0] == "1" and "busybox" not in res.stdout


def test_exec_joins_the_container(rt):
    b = rt.bundle("ex", rt.spec(["sleep", "100"], hostname="exhost"))
    assert rt.bg("run", "-d", "--bundle", str(b), "ex").returncode == 0
    res = rt("exec", "ex", "sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '; "
                                       "ls /sys/class/net; exit 7")
    assert res.returncode == 7, res.stderr
    out = res.stdout.split()
    assert out[0] == "exhost" and out[1:3] == ["sleep", "100"] and out[3:] == ["lo"]
    # no PATH in this environment: runc looks the program up on the process's PATH
    proc = {"args": ["/bin/sh", "-c", "echo $FOO; pwd"], "cwd": "/proc", "env": ["FOO=proc-json"],
            "user": {"uid": 0, "gid": 0}}
    pf = rt.base / "process.json"
    pf.write_text(json.dumps(proc))
    res = rt("exec", "--process", str(pf), "ex")
    assert res.stdout.split() == ["proc-json", "/proc"], res.stderr
    pidfile = rt.base / "exec.pid"
    assert rt.bg("exec", "-d", "--pid-file", str(pidfile), "ex", "sleep", "50").returncode == 0
    pid = int(pidfile.read_text())
    assert pid in json.loads(rt("ps", "--format", "json", "ex").stdout)


def test_pause_and_resume_freeze_the_container(rt):
    b = rt.bundle("pz", rt.spec(["sleep", "100"]))
    assert rt.bg("run", "-d", "--bundle", str(b), "pz").returncode == 0
    assert rt("pause", "pz").returncode == 0
    st = _wait_status(rt, "pz", "paused")
    assert (CG_ROOT / "freezer" / rt.cgroup_parent / "pz" / "freezer.state"
            ).read_text().strip() == "FROZEN"
    with open(f"/proc/{st['pid']}/status") as f:
        assert "State:\tD" in f.read() or True  # frozen tasks show as D or S
    assert rt("resume", "pz").returncode == 0
    _wait_status(rt, "pz", "running")
    res = rt("resume", "pz")
    assert res.returncode == 1 and "container not paused" in res.stderr


def test_update_changes_limits(rt):
    b = rt.bundle("up", rt.spec(["sleep", "100"]))
    assert rt.bg("run", "-d", "--bundle", str(b), "up").returncode == 0
    res = rt("update", "--memory", "64m", "--pids-limit", "50", "--cpu-share", "512",
             "--cpu-quota", "20000", "--cpu-period", "100000", "--cpuset-cpus", "0", "up")
    assert res.returncode == 0, res.stderr
    cg = rt.cgroup_parent
    assert (CG_ROOT / "memory" / cg / "up" / "memory.limit_in_bytes").read_text().strip() \
        == str(64 << 20)
    assert (CG_ROOT / "pids" / cg / "up" / "pids.max").read_text().strip() == "50"
    assert (CG_ROOT / "cpu" / cg / "up" / "cpu.shares").read_text().strip() == "512"
    assert (CG_ROOT / "cpu" / cg / "up" / "cpu.cfs_quota_us").read_text().strip() == "20000"
    assert (CG_ROOT / "cpuset" / cg / "up" / "cpuset.cpus").read_text().strip() == "0"
    r = rt.base / "res.json"
    r.write_text(json.dumps({"pids": {"limit": 40}}))
    assert rt("update", "-r", str(r), "up").returncode == 0
    assert (CG_ROOT / "pids" / cg / "up" / "pids.max").read_text().strip() == "40"


def test_console_socket_receives_the_pty(rt):
    sock_path = rt.base / "console.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(sock_path))
    srv.listen(1)
    spec = rt.spec(["sh", "-c", "tty; echo done"])
    spec["process"]["terminal"] = True
    b = rt.bundle("tty", spec)
    try:
        res = rt.bg("create", "--bundle", str(b), "--console-socket", str(sock_path), "tty")
        assert res.returncode == 0, res.stderr
        conn, _ = srv.accept()
        _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
        conn.close()
        master = fds[0]
        assert rt("start", "tty").returncode == 0
        out = b""
        deadline = time.monotonic() + 5
        while b"done" not in out and time.monotonic() < deadline:
            try:
                out += os.read(master, 1024)
            except OSError:
                break
        os.close(master)
        assert b"/dev/pts/0" in out, out
    finally:
        srv.close()


def test_list_table_and_quiet(rt):
    b = rt.bundle("ls1", rt.spec(["sleep", "100"]))
    assert rt.bg("create", "--bundle", str(b), "ls1").returncode == 0
    table = rt("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert table[1].split()[0] == "ls1" and table[1].split()[2] == "created"
    assert table[1].split()[5] == "root"
    assert rt("list", "-q").stdout == "ls1\n"


def test_kill_all_signals_every_process(rt):
    b = rt.bundle("ka", rt.spec(["sh", "-c", "sleep 100 & sleep 100 & wait"]))
    assert rt.bg("run", "-d", "--bundle", str(b), "ka").returncode == 0
    deadline = time.monotonic() + 5
    while len(json.loads(rt("ps", "--format", "json", "ka").stdout)) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert rt("kill", "--all", "ka", "9").returncode == 0
    _wait_status(rt, "ka", "stopped")


def test_delete_force_removes_a_running_container(rt):
    b = rt.bundle("df", rt.spec(["sleep", "100"]))
    assert rt.bg("run", "-d", "--bundle", str(b), "df").returncode == 0
    res = rt("delete", "df")
    assert res.returncode == 1 and "is not stopped" in res.stderr
    assert rt("delete", "--force", "df").returncode == 0
    assert not (rt.root / "df").exists()
    assert not rt.cgroup_dirs("df")


# -- bad input: message, exit status, nothing left behind ---------------------------------

def _assert_nothing_left(rt: Runtime, cid: str, mounts_before: set[str]) -> None:
    assert not (rt.root / cid).exists(), os.listdir(rt.root)
    assert not rt.cgroup_dirs(cid)
    assert not _our_mounts(rt)
    assert {m for m in _mountinfo() if "cgroup" in m} <= mounts_before | {
        m for m in _mountinfo() if "criu" in m}


def test_missing_bundle_fails_cleanly(rt):
    before = _mountinfo()
    res = rt.bg("create", "--bundle", str(rt.base / "nonexistent"), "mb")
    assert res.returncode == 1
    assert "no such file or directory" in res.stderr
    _assert_nothing_left(rt, "mb", before)


def test_malformed_config_fails_cleanly(rt):
    before = _mountinfo()
    b = rt.base / "bad"
    b.mkdir()
    (b / "config.json").write_text("{bad")
    res = rt.bg("create", "--bundle", str(b), "bad")
    assert res.returncode == 1 and "failed" in res.stderr
    res = rt("run", "--bundle", str(b), "bad")
    assert res.returncode == 1
    _assert_nothing_left(rt, "bad", before)


def test_missing_executable_fails_create_and_cleans_up(rt):
    before = _mountinfo()
    b = rt.bundle("nx", rt.spec(["/no/such/binary"]))
    res = rt.bg("create", "--bundle", str(b), "nx")
    assert res.returncode == 1
    assert "no such file or directory" in res.stderr
    _assert_nothing_left(rt, "nx", before)


def test_unknown_id_is_reported(rt):
    for args in (["state", "nope"], ["start", "nope"], ["kill", "nope"], ["delete", "nope"],
                 ["pause", "nope"], ["ps", "nope"]):
        res = rt(*args)
        assert res.returncode == 1, args
        assert "container does not exist" in res.stderr, (args, res.stderr)
    res = rt("exec", "nope", "true")
    assert res.returncode == 255 and "container does not exist" in res.stderr


def test_duplicate_id_is_refused_and_the_first_survives(rt):
    b = rt.bundle("dup", rt.spec(["sleep", "100"]))
    assert rt.bg("create", "--bundle", str(b), "dup").returncode == 0
    res = rt.bg("create", "--bundle", str(b), "dup")
    assert res.returncode == 1
    assert "container with given ID already exists" in res.stderr
    assert json.loads(rt("state", "dup").stdout)["status"] == "created"


def test_kill_of_a_stopped_container_fails(rt):
    b = rt.bundle("ks", rt.spec(["true"]))
    assert rt.bg("create", "--bundle", str(b), "ks").returncode == 0
    assert rt("start", "ks").returncode == 0
    _wait_status(rt, "ks", "stopped")
    res = rt("kill", "ks", "KILL")
    assert res.returncode == 1 and "container not running" in res.stderr
    assert rt("delete", "ks").returncode == 0
    assert not rt.cgroup_dirs("ks")


def test_start_twice_is_refused(rt):
    b = rt.bundle("st2", rt.spec(["sleep", "100"]))
    assert rt.bg("create", "--bundle", str(b), "st2").returncode == 0
    assert rt("start", "st2").returncode == 0
    res = rt("start", "st2")
    assert res.returncode == 1 and "cannot start an already running container" in res.stderr


# -- pyd-runc only ---------------------------------------------------------------------

def test_spec_is_byte_for_byte_runcs(pyd, tmp_path):
    if RUNC is None:
        pytest.skip("runc not installed")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    pyd("spec", "--bundle", str(tmp_path / "a"), check=True)
    subprocess.run([RUNC, "spec", "--bundle", str(tmp_path / "b")], check=True)
    assert (tmp_path / "a" / "config.json").read_bytes() == \
        (tmp_path / "b" / "config.json").read_bytes()


def test_pid_file_and_state_layout(pyd):
    b = pyd.bundle("pf", pyd.spec(["sleep", "100"]))
    pidfile = pyd.base / "pf.pid"
    assert pyd.bg("create", "--bundle", str(b), "--pid-file", str(pidfile), "pf").returncode == 0
    pid = int(pidfile.read_text())
    st = json.loads((pyd.root / "pf" / "state.json").read_text())
    assert st["init_process_pid"] == pid
    assert st["namespace_paths"]["pid"] == f"/proc/{pid}/ns/pid"
    assert st["cgroup_paths"]["memory"] == f"/sys/fs/cgroup/memory/{pyd.cgroup_parent}/pf"
    assert st["config"]["process"]["args"] == ["sleep", "100"]
    assert (pyd.root / "pf" / "exec.fifo").exists()
    # the waiting init is in the container's cgroups already
    procs = (CG_ROOT / "pids" / pyd.cgroup_parent / "pf" / "cgroup.procs").read_text().split()
    assert str(pid) in procs


def test_log_file_json_for_the_shim(pyd):
    log = pyd.base / "log.json"
    res = pyd("--log", str(log), "--log-format", "json", "kill", "nope")
    assert res.returncode == 1
    assert json.loads(log.read_text().splitlines()[-1])["msg"] == "container does not exist"
    assert res.stderr.strip() == "container does not exist"


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux script")
def test_run_with_a_terminal_proxies_the_pty(rt):
    spec = rt.spec(["sh", "-c", "tty; echo ok; exit 3"])
    spec["process"]["terminal"] = True
    b = rt.bundle("tt", spec)
    cmd = f"{rt.binary} --root {rt.root} run --bundle {b} tt"
    # runc wants a terminal of its own to proxy: give both runtimes one.
    res = subprocess.run(["script", "-qec", cmd, "/dev/null"], stdin=subprocess.DEVNULL,
                         capture_output=True, timeout=30)
    out = res.stdout.replace(b"\0", b"").decode().replace("^@", "")  # runc writes a NUL
    assert out.split() == ["/dev/pts/0", "ok"], (out, res.stderr)
    assert res.returncode == 3


def test_cgroup_v2_manager_on_the_unified_mount(tmp_path):
    """The v2 manager against a real cgroup2 hierarchy (here the hybrid unified mount,
    which has no resource controllers: create, join, freeze, thaw, destroy)."""
    from pyd_runtime.libcontainer.cgroups.v2 import V2Manager

    unified = CG_ROOT / "unified"
    if not (unified / "cgroup.procs").exists():
        pytest.skip("no cgroup2 mount")
    parent = unified / f"pyd-test-{uuid.uuid4().hex[:10]}"
    mgr = V2Manager({"": str(parent / "c1")})
    p = subprocess.Popen(["sleep", "100"])
    try:
        mgr.create()
        mgr.apply(p.pid)
        assert mgr.pids() == [p.pid]
        mgr.freeze()
        assert mgr.frozen()
        mgr.thaw()
        assert not mgr.frozen()
    finally:
        p.kill()
        p.wait()
        mgr.destroy(all_created=True)
    assert not parent.exists()


def test_mount_table_and_dev_match_runcs(tmp_path, rootfs):
    """Same bundle, same view: mount points, options and file systems, and /dev."""
    if RUNC is None:
        pytest.skip("runc not installed")
    seen = {}
    for name in ("pyd-runc", "runc"):
        r = Runtime(name, tmp_path, rootfs)
        try:
            res = r.run_in(["sh", "-c", "cat /proc/self/mountinfo; echo --; ls -l /dev"])
            assert res.returncode == 0, res.stderr
            mounts, dev = res.stdout.split("--\n")
            seen[name] = (
                [line.split()[4:6] + line.split(" - ")[1].split()[:1] +
                 [line.split(" - ")[1].split()[2]] for line in mounts.splitlines()],
                [(f[0], f[-3] if "->" in f else f[-1]) for f in
                 (line.split() for line in dev.splitlines()[1:])])
        finally:
            r.cleanup()
    assert seen["pyd-runc"] == seen["runc"]


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux script")
def test_exec_with_a_tty(rt):
    b = rt.bundle("xt", rt.spec(["sleep", "100"]))
    assert rt.bg("run", "-d", "--bundle", str(b), "xt").returncode == 0
    cmd = f"{rt.binary} --root {rt.root} exec -t xt sh -c 'tty; exit 4'"
    res = subprocess.run(["script", "-qec", cmd, "/dev/null"], stdin=subprocess.DEVNULL,
                         capture_output=True, timeout=30)
    out = res.stdout.replace(b"\0", b"").decode().replace("^@", "")
    assert out.split() == ["/dev/pts/0"], (out, res.stderr)
    assert res.returncode == 4


def test_ps_table_shows_the_containers_processes(rt):
    b = rt.bundle("pst", rt.spec(["sleep", "100"]))
    assert rt.bg("run", "-d", "--bundle", str(b), "pst").returncode == 0
    res = rt("ps", "pst")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[:2] == ["UID", "PID"]
    assert len(lines) == 2 and "sleep 100" in lines[1]


def test_exec_flags_cwd_env_user(rt):
    b = rt.bundle("xf", rt.spec(["sleep", "100"]))
    assert rt.bg("run", "-d", "--bundle", str(b), "xf").returncode == 0
    res = rt("exec", "--cwd", "/proc", "--env", "A=1", "--env", "B=2", "--user", "1000:1001",
             "--additional-gids", "7", "xf", "sh", "-c", "pwd; echo $A$B; id -u; id -g; id -G")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["/proc", "12", "1000", "1001", "1001", "7"]


def test_container_joins_a_network_namespace_by_path(rt):
    name = f"pydt{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "add", "pydva", "type", "veth", "peer",
                        "name", "pydvb"], check=True)
        spec = rt.spec(["ls", "/sys/class/net"])
        spec["linux"]["namespaces"] = [
            {"type": "network", "path": f"/var/run/netns/{name}"} if n["type"] == "network"
            else n for n in spec["linux"]["namespaces"]]
        b = rt.bundle("nsp", spec)
        res = rt("run", "--bundle", str(b), "nsp")
        assert res.returncode == 0, res.stderr
        assert sorted(res.stdout.split()) == ["lo", "pydva", "pydvb"]
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def test_cgroup_namespace_hides_the_cgroup_path(rt):
    spec = rt.spec(["cat", "/proc/self/cgroup"])
    spec["linux"]["namespaces"].append({"type": "cgroup"})
    b = rt.bundle("cgns", spec)
    res = rt("run", "--bundle", str(b), "cgns")
    assert res.returncode == 0, res.stderr
    paths = {line.split(":", 2)[2] for line in res.stdout.splitlines()}
    assert paths == {"/"}, res.stdout


def test_bind_mounts_with_ro_and_rbind(rt, tmp_path):
    src = tmp_path / "shared"
    src.mkdir()
    (src / "hello").write_text("from the host\n")
    spec = rt.spec(["sh", "-c", "cat /data/hello; touch /data/x && echo WROTE; "
                                "touch /rw/y && echo RW-OK; cat /etc/hosts-file"])
    hosts = tmp_path / "hostsfile"
    hosts.write_text("127.0.0.1 pyd\n")
    spec["mounts"] += [
        {"destination": "/data", "type": "bind", "source": str(src), "options": ["rbind", "ro"]},
        {"destination": "/rw", "type": "none", "source": str(src), "options": ["bind", "rw"]},
        {"destination": "/etc/hosts-file", "type": "bind", "source": str(hosts),
         "options": ["bind", "ro"]}]
    b = rt.bundle("bind", spec)
    res = rt("run", "--bundle", str(b), "bind")
    assert res.stdout.split("\n")[0] == "from the host"
    assert "WROTE" not in res.stdout and "RW-OK" in res.stdout
    assert "127.0.0.1 pyd" in res.stdout
    assert (src / "y").exists() and not (src / "x").exists()


def test_cpu_limits_and_masked_paths_at_create(rt):
    spec = rt.spec(["sh", "-c", "cat /proc/kcore | wc -c; ls /proc/acpi | wc -l"])
    spec["linux"]["resources"] = {"cpu": {"shares": 256, "quota": 50000, "period": 100000},
                                  "memory": {"limit": 64 << 20, "swap": 64 << 20}}
    b = rt.bundle("cpu", spec)
    assert rt.bg("create", "--bundle", str(b), "cpu").returncode == 0
    cg = CG_ROOT / "cpu" / rt.cgroup_parent / "cpu"
    assert (cg / "cpu.shares").read_text().strip() == "256"
    assert (cg / "cpu.cfs_quota_us").read_text().strip() == "50000"
    assert (cg / "cpu.cfs_period_us").read_text().strip() == "100000"
    mem = CG_ROOT / "memory" / rt.cgroup_parent / "cpu"
    assert (mem / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
    if (mem / "memory.memsw.limit_in_bytes").exists():
        assert (mem / "memory.memsw.limit_in_bytes").read_text().strip() == str(64 << 20)
    rt("delete", "--force", "cpu")
    res = rt.run_in(spec["process"]["args"], cid="masked")
    assert res.stdout.split() == ["0", "0"], res.stderr


def test_hooks_run_at_each_stage(rt, tmp_path):
    out = tmp_path / "hooks"
    out.mkdir()

    def host_hook(name: str) -> dict:
        return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out}/{name}.json"]}

    spec = rt.spec(["cat", "/dev/shm/started"], hostname="hooked")
    spec["hooks"] = {
        "prestart": [host_hook("prestart")],
        "createRuntime": [host_hook("createRuntime")],
        # in the container's namespaces, before pivot_root: host paths still visible
        "createContainer": [{"path": "/bin/sh", "args": [
            "sh", "-c", f"tail -n +3 /proc/self/net/dev | cut -d: -f1 > {out}/cc.net"]}],
        # inside the container, after pivot_root: the container's /bin/sh
        "startContainer": [{"path": "/bin/sh", "args": [
            "sh", "-c", "echo started-hook > /dev/shm/started"]}],
        "poststart": [host_hook("poststart")],
        "poststop": [host_hook("poststop")],
    }
    b = rt.bundle("hk", spec)
    res = rt("run", "--bundle", str(b), "hk")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "started-hook"
    # (runc 1.1 reports "created" to poststart hooks, pyd-runc "running")
    for name, status in (("prestart", {"creating"}), ("createRuntime", {"creating"}),
                         ("poststart", {"created", "running"}), ("poststop", {"stopped"})):
        st = json.loads((out / f"{name}.json").read_text())
        assert st["id"] == "hk" and st["status"] in status, (name, st)
        if "stopped" not in status:
            assert st["pid"] > 0
    # the createContainer hook ran in the container's network namespace
    assert (out / "cc.net").read_text().split() == ["lo"]


def test_failing_prestart_hook_fails_create_and_cleans_up(rt):
    before = _mountinfo()
    spec = rt.spec(["true"])
    spec["hooks"] = {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}]}
    b = rt.bundle("hkf", spec)
    res = rt.bg("create", "--bundle", str(b), "hkf")
    assert res.returncode == 1
    assert "error running hook #0" in res.stderr and "exit status 3" in res.stderr
    _assert_nothing_left(rt, "hkf", before)


def test_delete_kills_what_outlives_init_without_a_pid_namespace(rt):
    spec = rt.spec(["sh", "-c", "sleep 1000 & exec sleep 1001"])
    spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"]
                                   if n["type"] != "pid"]
    b = rt.bundle("nopid", spec)
    assert rt.bg("run", "-d", "--bundle", str(b), "nopid").returncode == 0
    procs = CG_ROOT / "pids" / rt.cgroup_parent / "nopid" / "cgroup.procs"
    deadline = time.monotonic() + 5
    while len(procs.read_text().split()) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    pids = [int(p) for p in procs.read_text().split()]
    st = json.loads(rt("state", "nopid").stdout)
    os.kill(st["pid"], 9)
    _wait_status(rt, "nopid", "stopped")
    assert rt("delete", "nopid").returncode == 0
    assert not rt.cgroup_dirs("nopid")
    for p in pids:
        gone = not Path(f"/proc/{p}").exists()
        assert gone or Path(f"/proc/{p}/stat").read_text().split(") ")[1][0] == "Z"


def test_preserve_fds_passes_extra_descriptors(rt):
    r, w = os.pipe()
    os.write(w, b"through fd 3\n")
    os.close(w)
    try:
        b = rt.bundle("pf3", rt.spec(["sh", "-c", "cat <&3"]))
        # a shell puts the pipe on fd 3 for the runtime (pytest's own fd 3 stays alone)
        cmd = (f"exec 3<&{r}; exec {rt.binary} --root {rt.root} run --preserve-fds 1 "
               f"--bundle {b} pf3")
        res = subprocess.run(["bash", "-c", cmd], pass_fds=(r,), capture_output=True,
                             text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert res.returncode == 0, res.stderr
        assert res.stdout == "through fd 3\n"
    finally:
        os.close(r)


def test_parallel_runs_do_not_interfere(rt):
    procs = []
    for i in range(6):
        b = rt.bundle(f"par{i}", rt.spec(["sh", "-c", f"echo $$ {i}"]))
        procs.append(subprocess.Popen([rt.binary, "--root", str(rt.root), "run", "--bundle",
                                       str(b), f"par{i}"], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                      text=True))
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert out.split() == ["1", str(i)]
    assert not os.listdir(rt.root)
    for i in range(6):
        assert not rt.cgroup_dirs(f"par{i}")


def test_events_stats_report_cgroup_figures(rt):
    spec = rt.spec(["sleep", "100"])
    spec["linux"]["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 50}}
    b = rt.bundle("ev", spec)
    assert rt.bg("run", "-d", "--bundle", str(b), "ev").returncode == 0
    res = rt("events", "--stats", "ev")
    assert res.returncode == 0, res.stderr
    ev = json.loads(res.stdout)
    assert ev["type"] == "stats" and ev["id"] == "ev"
    d = ev["data"]
    assert d["cpu"]["usage"]["total"] > 0 and len(d["cpu"]["usage"]["percpu"]) == os.cpu_count()
    assert d["memory"]["usage"]["limit"] == 64 << 20 and d["memory"]["usage"]["usage"] > 0
    assert "raw" in d["memory"] and "swap" in d["memory"]
    assert d["pids"] == {"current": 1, "limit": 50}


def test_events_reports_an_oom_kill(pyd):
    spec = pyd.spec(["sh", "-c", "sleep 0.5; dd if=/dev/zero of=/dev/null bs=64M count=1; "
                                 "sleep 100"])
    spec["linux"]["resources"] = {"memory": {"limit": 16 << 20}}
    b = pyd.bundle("evoom", spec)
    assert pyd.bg("run", "-d", "--bundle", str(b), "evoom").returncode == 0
    p = subprocess.Popen([pyd.binary, "--root", str(pyd.root), "events", "--interval", "10s",
                          "evoom"], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        kinds = []
        while "oom" not in kinds and time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            kinds.append(json.loads(line)["type"])
        assert kinds[0] == "stats" and "oom" in kinds, kinds
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("propagation", ["rshared", "rprivate", "rslave"])
def test_rootfs_propagation_modes_still_pivot(rt, propagation):
    spec = rt.spec(["sh", "-c", "echo $$"])
    spec["linux"]["rootfsPropagation"] = propagation
    b = rt.bundle("prop", spec)
    res = rt("run", "--bundle", str(b), "prop")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "1"
    assert not _our_mounts(rt)

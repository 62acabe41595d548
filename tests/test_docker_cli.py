"""The `docker` CLI drives pyd through the Docker Engine REST API (issue 8): the
machine's docker (28.x, /usr/local/bin) and Debian's docker-cli client (/usr/bin),
each pointed at the stack's REST socket with DOCKER_HOST."""

from __future__ import annotations

import fcntl
import http.client
import json
import os
import pty
import re
import select
import shutil
import socket
import struct
import subprocess
import tarfile
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack import Stack, private_stack, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.root]

CANDIDATES = {"machine": "/usr/local/bin/docker", "debian": "/usr/bin/docker"}
CLIENTS = {k: v for k, v in CANDIDATES.items() if os.access(v, os.X_OK)}
if not CLIENTS:
    pytest.skip("no docker CLI: scripts/install.sh --dev installs Debian's docker-cli",
                allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Docker:
    """One docker client binary pointed at one stack's REST socket."""

    def __init__(self, binary: str, stack: Stack) -> None:
        self.binary = binary
        self.stack = stack
        self.socket = stack.state / "docker.sock"
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.socket}",
                    "DOCKER_CONFIG": str(stack.base / "docker-config"), "TERM": "xterm"}

    def __call__(self, *args: str, timeout: float = 60.0,
                 input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, *args], capture_output=True, text=True,
                              env=self.env, timeout=timeout, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL)

    def ok(self, *args: str, timeout: float = 60.0) -> str:
        out = self(*args, timeout=timeout)
        assert out.returncode == 0, (args, out.stdout, out.stderr)
        return out.stdout

    def on_pty(self, *args: str, rows: int = 33, cols: int = 101) -> Terminal:
        return Terminal([self.binary, *args], self.env, rows, cols)


class Terminal:
    """A command on a real terminal of a given size (as a user at a shell runs it)."""

    def __init__(self, argv: list[str], env: dict[str, str], rows: int, cols: int) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: size its terminal, then become the command
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            os.execve(argv[0], argv, env)
        self.out = b""

    def read_until(self, needle: bytes, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while needle not in self.out and time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                self.out += data
        return needle in self.out

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def wait(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.pid = 0
                return os.waitstatus_to_exitcode(status)
            with_data, _, _ = select.select([self.fd], [], [], 0.1)
            if with_data:
                try:
                    self.out += os.read(self.fd, 4096)
                except OSError:
                    pass
        raise TimeoutError(self.out.decode(errors="replace"))

    def close(self) -> None:
        if self.pid:
            try:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self.fd)


@pytest.fixture(scope="module")
def engine() -> Iterator[Stack]:
    """One stack for the module, serving checkpoints on its loopback too."""
    with private_stack() as s:
        s.stop()
        s.start(30.0, "--checkpoint-listen", f"127.0.0.1:{free_port()}")
        deadline = time.monotonic() + 10
        while not (s.state / "docker.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield s


@pytest.fixture(params=sorted(CLIENTS))
def docker(request: pytest.FixtureRequest, engine: Stack) -> Iterator[Docker]:
    d = Docker(CLIENTS[request.param], engine)
    yield d
    # Each test leaves the module's stack as it found it.
    ids = d("ps", "-aq").stdout.split()
    if ids:
        d("rm", "-f", *ids)


def _http(stack: Stack, method: str, path: str,
          body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("localhost")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(stack.state / "docker.sock"))
    conn.sock = sock
    try:
        conn.request(method, path, body=body,
                     headers={"Content-Type": "application/json"} if body else {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()



# ------------------------------------------------------------------------ the API


def test_ping_headers_and_api_version_negotiation(engine: Stack) -> None:
    status, headers, body = _http(engine, "HEAD", "/_ping")
    assert status == 200 and body == b""
    assert headers["api-version"] == "1.47"
    assert headers["docker-experimental"] == "true"  # the CLI then offers `checkpoint`
    assert headers["ostype"] == "linux"
    assert headers["builder-version"] == "1"
    status, headers, body = _http(engine, "GET", "/v1.24/_ping")
    assert (status, body) == (200, b"OK")
    status, _, body = _http(engine, "GET", "/version")
    assert status == 200
    version = json.loads(body)
    assert (version["ApiVersion"], version["MinAPIVersion"]) == ("1.47", "1.24")
    status, _, body = _http(engine, "GET", "/v1.99/version")
    assert status == 400
    assert json.loads(body)["message"] == ("client version 1.99 is too new. Maximum "
                                           "supported API version is 1.47")
    status, _, body = _http(engine, "GET", "/v1.12/info")
    assert status == 400 and "too old" in json.loads(body)["message"]
    status, _, body = _http(engine, "GET", "/v1.47/containers/nope/json")
    assert (status, json.loads(body)) == (404, {"message": "No such container: nope"})
    status, _, body = _http(engine, "GET", "/v1.47/no/such/route")
    assert (status, json.loads(body)) == (404, {"message": "page not found"})
    status, _, body = _http(engine, "GET", "/v1.47/images/busybox/history")
    assert (status, json.loads(body)) == (404, {"message": "page not found"})
    # Bad input is a 400 with Docker's error body, and changes nothing.
    for method, path, payload in [
            ("POST", "/containers/create", b"{not json"),
            ("POST", "/containers/create", b"[1, 2]"),
            ("POST", "/containers/create", b'{"Cmd": ["true"]}'),
            ("POST", "/containers/create?name=bad%2Fname", b'{"Image": "busybox"}'),
            ("GET", "/containers/json?filters=%7Bnope", None),
            ("GET", "/containers/json?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D", None),
            ("POST", "/containers/x/wait?condition=whenever", None),
            ("GET", "/containers/json?limit=many", None)]:
        status, _, body = _http(engine, method, path, payload)
        assert status == 400 and json.loads(body)["message"], (path, status, body)
    assert json.loads(_http(engine, "GET", "/containers/json?all=1")[2]) == []


def test_the_api_can_be_turned_off_and_moved(tmp_path: Path) -> None:
    with private_stack(start=False) as s:
        moved = tmp_path / "elsewhere.sock"
        s.start(30.0, "--docker-host", f"unix://{moved}")
        assert wait_for(moved.exists, 10)
        assert not (s.state / "docker.sock").exists()
        assert oct(moved.stat().st_mode & 0o777) == "0o660"
        s.stop()
        assert not moved.exists()  # removed at a clean stop
        s.start(30.0, "--no-docker-api")
        assert s.ping()
        assert not (s.state / "docker.sock").exists() and not moved.exists()


# -------------------------------------------------------------------- the CLI


def test_version_and_info(docker: Docker) -> None:
    server = json.loads(docker.ok("version", "--format", "{{json .Server}}"))
    assert server["ApiVersion"] == "1.47" and server["Experimental"] is True
    client_api = docker.ok("version", "--format", "{{.Client.APIVersion}}").strip()
    assert client_api in ("1.47", "1.45")  # docker 28 negotiates down; Debian's 26 is 1.45
    info = docker.ok("info", "--format", "{{.ServerVersion}}|{{.Driver}}|{{.OSType}}|"
                     "{{.ExperimentalBuild}}")
    assert info.strip() == "0.1.0|overlayfs|linux|true"


def test_run_detached_ps_logs_inspect_wait_stop_kill_rm(docker: Docker) -> None:
    cid = docker.ok("run", "-d", "--name", "ticker", "busybox", "sh", "-c",
                    "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done").strip()
    assert len(cid) == 64
    ps = docker.ok("ps", "-a", "--format", "{{.ID}} {{.Names}} {{.State}}")
    assert f"{cid[:12]} ticker running" in ps.splitlines()
    assert wait_for(lambda: "tick 3" in docker.ok("logs", "ticker"))
    state = json.loads(docker.ok("inspect", "ticker"))[0]
    assert state["Id"] == cid and state["State"]["Running"] is True
    assert state["Name"] == "/ticker" and state["Config"]["Cmd"][0] == "sh"
    image = json.loads(docker.ok("inspect", "busybox"))[0]
    assert image["RepoTags"] == ["busybox:latest"] and image["Id"] == state["Image"]

    # logs -f follows until the container ends; wait then prints its exit code.
    follow = subprocess.Popen([docker.binary, "logs", "-f", "ticker"], env=docker.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    waiter = subprocess.Popen([docker.binary, "wait", "ticker"], env=docker.env,
                              stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    assert follow.poll() is None and waiter.poll() is None
    assert docker.ok("stop", "-t", "1", "ticker").strip() == "ticker"
    out, _ = follow.communicate(timeout=30)
    assert follow.returncode == 0 and "tick 1\n" in out
    assert waiter.communicate(timeout=30)[0].strip() == "137"  # SIGKILL after -t 1
    assert docker.ok("inspect", "-f", "{{.State.Status}}", "ticker").strip() == "exited"

    docker.ok("run", "-d", "--name", "victim", "busybox", "sleep", "300")
    busy = docker("rm", "victim")
    assert busy.returncode == 1
    assert "You cannot remove a running container" in busy.stderr
    assert docker.ok("kill", "victim").strip() == "victim"
    gone = docker("kill", "victim")  # kill waits for the end: now it is not running
    assert gone.returncode == 1 and "is not running" in gone.stderr
    assert docker.ok("rm", "victim", "ticker").split() == ["victim", "ticker"]
    assert docker.ok("ps", "-aq") == ""
    missing = docker("rm", "nosuch")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "Error response from daemon: No such container: nosuch"


def test_run_attached_separates_stdout_and_stderr_and_returns_the_exit_code(
        docker: Docker) -> None:
    out = docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (out.returncode, out.stdout, out.stderr) == (3, "out\n", "err\n")
    assert docker.ok("ps", "-aq") == ""  # --rm removed it
    piped = docker("run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z",
                   input="through stdin\n")
    assert (piped.returncode, piped.stdout) == (0, "THROUGH STDIN\n")


def test_run_rm_it_gives_a_sized_terminal_that_takes_input(docker: Docker) -> None:
    term = docker.on_pty("run", "--rm", "-it", "--name", "tty", "busybox", "sh", rows=33,
                         cols=101)
    try:
        assert term.read_until(b"# "), term.out
        term.send("stty size; echo $((6*7))\r")
        assert term.read_until(b"42"), term.out
        assert b"33 101" in term.out  # the resize reached the container's terminal
        term.send("\x10\x11")  # ctrl-p ctrl-q: the client detaches, the shell goes on
        assert term.wait() == 0, term.out
    finally:
        term.close()
    assert docker.ok("inspect", "-f", "{{.State.Running}}", "tty").strip() == "true"
    again = docker.on_pty("attach", "tty")
    try:
        again.send("echo back $((7*6))\r")
        assert again.read_until(b"back 42"), again.out
        again.send("exit 3\r")
        assert again.wait() == 3, again.out
    finally:
        again.close()
    assert wait_for(lambda: docker.ok("ps", "-aq") == "", 15)  # --rm removed it


def test_exec_with_and_without_a_terminal_and_cp(docker: Docker, tmp_path: Path) -> None:
    docker.ok("run", "-d", "--name", "box", "busybox", "sleep", "300")
    (tmp_path / "in.txt").write_text("copied in\n")
    docker.ok("cp", str(tmp_path / "in.txt"), "box:/tmp/")
    assert docker.ok("exec", "box", "cat", "/tmp/in.txt") == "copied in\n"
    docker.ok("cp", "box:/tmp/in.txt", str(tmp_path / "out.txt"))
    assert (tmp_path / "out.txt").read_text() == "copied in\n"
    out = docker("exec", "box", "sh", "-c", "echo out; echo err >&2; exit 4")
    assert (out.returncode, out.stdout, out.stderr) == (4, "out\n", "err\n")
    piped = docker("exec", "-i", "box", "sh", "-c", "cat; echo done", input="in\n")
    assert (piped.returncode, piped.stdout) == (0, "in\ndone\n")
    missing = docker("exec", "box", "nosuchcmd")
    assert missing.returncode in (126, 127), missing
    term = docker.on_pty("exec", "-it", "box", "sh", rows=20, cols=70)
    try:
        assert term.read_until(b"# "), term.out
        term.send("tty; stty size\r")
        assert term.read_until(b"20 70"), term.out
        assert b"/dev/pts/" in term.out
        term.send("exit 5\r")
        assert term.wait() == 5, term.out
    finally:
        term.close()


def test_images_save_load_import(docker: Docker, tmp_path: Path) -> None:
    docker.ok("tag", "busybox", "saved:1")
    archive = tmp_path / "saved.tar"
    docker.ok("save", "-o", str(archive), "saved:1")
    with tarfile.open(archive) as tar:
        assert "manifest.json" in tar.getnames() or "index.json" in tar.getnames()
    untagged = docker.ok("rmi", "saved:1")
    assert "Untagged: saved:1" in untagged
    assert "saved" not in docker.ok("images", "--format", "{{.Repository}}")
    assert "Loaded image: saved:1" in docker.ok("load", "-i", str(archive))
    assert "saved 1" in docker.ok("images", "--format", "{{.Repository}} {{.Tag}}")

    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        tar.add(shutil.which("busybox") or "/bin/busybox", arcname="bin/busybox")
    image_id = docker.ok("import", "-c", 'CMD ["/bin/busybox", "echo", "imported"]',
                         str(rootfs), "imported:1").strip()
    assert image_id.startswith("sha256:")
    assert docker.ok("run", "--rm", "imported:1") == "imported\n"
    docker.ok("rmi", "saved:1", "imported:1")


def test_pyd_import_change_gives_the_same_config_as_docker_import(engine: Stack,
                                                                    tmp_path: Path) -> None:
    """`pyd import --change` (gRPC Images.Import) and `docker import --change` (REST)
    both give the instruction to the image's runtime `config` section, so the image
    runs its CMD (it used to be nested one level deeper: "no command specified")."""
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        tar.add(shutil.which("busybox") or "/bin/busybox", arcname="bin/busybox")
    docker = Docker(CLIENTS[sorted(CLIENTS)[0]], engine)
    change = ["-c", 'CMD ["/bin/busybox", "echo", "imported"]', "-c", "ENV SHELL=/bin/sh"]
    out = engine.cli("import", *change, str(rootfs), "grpcimport:1")
    assert out.returncode == 0, out.stderr
    docker.ok("import", *change, str(rootfs), "restimport:1")
    try:
        configs = [json.loads(docker.ok("image", "inspect", "-f", "{{json .Config}}", name))
                   for name in ("grpcimport:1", "restimport:1")]
        assert configs[0] == configs[1]
        assert configs[0]["Cmd"] == ["/bin/busybox", "echo", "imported"]
        assert configs[0]["Env"] == ["SHELL=/bin/sh"] and "config" not in configs[0]
        run = engine.cli("run", "--rm", "grpcimport:1")
        assert (run.returncode, run.stdout) == (0, "imported\n"), run.stderr
    finally:
        docker("rmi", "grpcimport:1", "restimport:1")


def test_networks_and_volumes(docker: Docker) -> None:
    docker.ok("network", "create", "clinet")
    nets = docker.ok("network", "ls", "--format", "{{.Name}} {{.Driver}}").splitlines()
    assert "clinet bridge" in nets and "bridge bridge" in nets
    docker.ok("volume", "create", "clivol")
    assert "clivol" in docker.ok("volume", "ls", "--format", "{{.Name}}").split()
    out = docker.ok("run", "--rm", "--network", "clinet", "-v", "clivol:/data", "busybox",
                    "sh", "-c", "echo kept > /data/f; cat /data/f; ip -4 addr show eth0")
    assert out.startswith("kept\n") and "inet " in out
    docker.ok("network", "rm", "clinet")
    docker.ok("volume", "rm", "clivol")
    assert "clinet" not in docker.ok("network", "ls")


_UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1024, "MiB": 1 << 20,
          "GiB": 1 << 30}


def _bytes(text: str) -> float:
    """docker's "1.5MiB" / "3.2kB" / "0B" → bytes."""
    m = re.fullmatch(r"([0-9.]+)([kKMGT]?i?B)", text.strip())
    assert m, text
    return float(m.group(1)) * _UNITS[m.group(2)]


def _memory_limit(pid: int) -> int:
    """The memory limit the kernel has for `pid`'s cgroup (v1 or v2)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if "memory" in ctrls.split(","):
            return int(Path(f"/sys/fs/cgroup/{ctrls}{path}/memory.limit_in_bytes").read_text())
        if not ctrls and Path(f"/sys/fs/cgroup{path}/memory.max").exists():
            return int(Path(f"/sys/fs/cgroup{path}/memory.max").read_text())
    raise AssertionError(f"no memory cgroup for {pid}")


def test_stats_update_export_and_system_df(docker: Docker, tmp_path: Path) -> None:
    docker.ok("volume", "create", "dfvol")
    docker.ok("run", "-d", "--name", "res", "-v", "dfvol:/data", "busybox", "sh", "-c",
              "head -c 300000 /dev/zero > /data/blob; echo marked > /marker; sleep 300")
    assert wait_for(lambda: docker("exec", "res", "cat", "/marker").stdout == "marked\n")

    # stats --no-stream: one line per container, from two samples (CPU % needs both).
    row = json.loads(docker.ok("stats", "--no-stream", "--format", "{{json .}}", "res"))
    assert row["Name"] == "res" and row["PIDs"] == "1", row
    used, limit = (_bytes(x) for x in row["MemUsage"].split(" / "))
    assert 0 < used < limit and limit > 256 << 20  # no limit: the host's memory
    assert 0.0 <= float(row["CPUPerc"].rstrip("%")) < 50.0, row
    missing = docker("stats", "--no-stream", "nosuch")
    assert missing.returncode == 1 and "No such container: nosuch" in missing.stderr

    # update: the limit reaches the running container's cgroup and the stats' limit.
    assert docker.ok("update", "--memory", "96m", "--pids-limit", "40", "res").strip() == "res"
    pid = int(docker.ok("inspect", "-f", "{{.State.Pid}}", "res"))
    assert _memory_limit(pid) == 96 << 20
    hc = json.loads(docker.ok("inspect", "-f", "{{json .HostConfig}}", "res"))
    assert (hc["Memory"], hc["PidsLimit"]) == (96 << 20, 40)
    row = json.loads(docker.ok("stats", "--no-stream", "--format", "{{json .}}", "res"))
    assert row["MemUsage"].endswith(" / 96MiB"), row
    bad = docker("update", "--memory", "1k", "res")
    assert bad.returncode == 1 and "Minimum memory limit allowed is 6MB" in bad.stderr
    gone = docker("update", "--memory", "96m", "nosuch")
    assert gone.returncode == 1 and "No such container: nosuch" in gone.stderr

    # export: the container's own filesystem, without what is mounted over it.
    archive = tmp_path / "res.tar"
    docker.ok("export", "-o", str(archive), "res")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        marker = tar.extractfile("marker")
        assert marker is not None and marker.read() == b"marked\n"
    assert {"bin/busybox", "etc", "proc"} <= names
    assert not any(n.startswith(("proc/", "data/")) for n in names)  # mounts left out

    # system df: the table's four rows, and the figures behind them.
    table = docker.ok("system", "df").splitlines()
    assert table[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [line.split()[0] for line in table[1:]] == ["Images", "Containers", "Local",
                                                       "Build"]
    rows = {r["Type"]: r for r in map(json.loads, docker.ok(
        "system", "df", "--format", "{{json .}}").splitlines())}
    assert (rows["Containers"]["TotalCount"], rows["Containers"]["Active"]) == ("1", "1")
    assert _bytes(rows["Containers"]["Size"]) >= len("marked\n")
    assert int(rows["Images"]["TotalCount"]) >= 1 and rows["Images"]["Active"] == "1"
    assert _bytes(rows["Images"]["Size"]) > 1 << 20  # busybox's layer
    assert (rows["Local Volumes"]["TotalCount"], rows["Local Volumes"]["Active"]) == ("1", "1")
    assert _bytes(rows["Local Volumes"]["Size"]) >= 300000
    verbose = json.loads(docker.ok("system", "df", "-v", "--format", "{{json .}}"))
    [vol] = [v for v in verbose["Volumes"] if v["Name"] == "dfvol"]
    assert vol["Links"] == "1", vol
    docker.ok("rm", "-f", "res")
    docker.ok("volume", "rm", "dfvol")


def test_stats_stream_and_one_shot_over_the_api(docker: Docker) -> None:
    cid = docker.ok("run", "-d", "busybox", "sleep", "300").strip()
    conn = http.client.HTTPConnection("localhost")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(docker.stack.state / "docker.sock"))
    conn.sock = sock
    try:
        conn.request("GET", f"/v1.47/containers/{cid[:12]}/stats")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Type") == "application/json"
        first, second = json.loads(resp.readline()), json.loads(resp.readline())
    finally:
        conn.close()
    # A stream: a sample a second, each carrying the one before as precpu_stats.
    assert first["id"] == second["id"] == cid and first["name"].startswith("/")
    assert second["preread"] == first["read"] and second["read"] > first["read"]
    assert (second["precpu_stats"]["cpu_usage"]["total_usage"] ==
            first["cpu_stats"]["cpu_usage"]["total_usage"])
    assert second["cpu_stats"]["system_cpu_usage"] > first["cpu_stats"]["system_cpu_usage"]
    assert second["pids_stats"]["current"] == 1 and second["memory_stats"]["usage"] > 0
    # one-shot: a single sample, no precpu_stats; with stream it is refused.
    status, _, body = _http(docker.stack, "GET",
                            f"/containers/{cid}/stats?stream=false&one-shot=true")
    one = json.loads(body)
    assert status == 200 and one["preread"] == "0001-01-01T00:00:00Z"
    assert one["precpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert one["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    status, _, body = _http(docker.stack, "GET", f"/containers/{cid}/stats?one-shot=1")
    assert (status, json.loads(body)["message"]) == (
        400, "cannot have stream=true and one-shot=true")
    # A stopped container's single message holds only its name and id.
    docker.ok("kill", cid)
    status, _, body = _http(docker.stack, "GET", f"/containers/{cid}/stats?stream=0")
    stopped = json.loads(body)
    assert status == 200 and stopped["id"] == cid and stopped["memory_stats"] == {}
    assert stopped["read"] == "0001-01-01T00:00:00Z"
    for path in ("/containers/nosuch/stats?stream=0", "/containers/nosuch/export"):
        status, _, body = _http(docker.stack, "GET", path)
        assert (status, json.loads(body)) == (404, {"message": "No such container: nosuch"})
    status, _, body = _http(docker.stack, "GET", "/system/df?type=image&type=bogus")
    assert (status, json.loads(body)) == (400, {"message": "unknown object type: bogus"})
    status, _, body = _http(docker.stack, "GET", "/system/df?type=volume")
    only = json.loads(body)
    assert status == 200 and only["Images"] is None and only["Containers"] is None
    assert isinstance(only["Volumes"], list)


def test_checkpoint_create_ls_rm_start_and_lazy_restore(docker: Docker) -> None:
    docker.ok("run", "-d", "--name", "counter", "busybox", "sh", "-c",
              "i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done")
    assert wait_for(lambda: "5\n" in docker.ok("logs", "counter"))
    docker.ok("checkpoint", "create", "counter", "cp1", timeout=120)
    assert docker.ok("inspect", "-f", "{{.State.Running}}", "counter").strip() == "false"
    assert docker.ok("checkpoint", "ls", "counter").split() == ["CHECKPOINT", "NAME", "cp1"]
    last = int(docker.ok("logs", "counter").split()[-1])
    docker.ok("start", "--checkpoint", "cp1", "counter", timeout=120)

    def resumed() -> bool:
        numbers = [int(n) for n in docker.ok("logs", "counter").split()]
        return numbers[-1] > last + 2 and numbers.count(1) == 1  # went on, no restart

    assert wait_for(resumed), docker.ok("logs", "counter")

    # `start` takes pyd's lazy-restore parameter: a container of the same image runs
    # from the checkpoint this host serves, its memory paged in lazily.
    docker.ok("create", "--name", "lazy", "busybox", "sh", "-c", "sleep 300")
    listen = _checkpoint_listen(docker.stack)
    code, _, body = _post(docker.stack, "/v1.47/containers/lazy/start?lazy-restore="
                          f"pyd://{listen}/counter/cp1")
    assert code == 204, body
    lazy = json.loads(docker.ok("inspect", "lazy"))[0]["State"]
    assert lazy["Running"] is True
    assert lazy["LazyRestore"]["Address"] == f"pyd://{listen}/counter/cp1"
    assert wait_for(lambda: int(["0", *docker.ok("logs", "lazy").split()][-1]) > last + 2)

    docker.ok("checkpoint", "rm", "counter", "cp1")
    assert docker.ok("checkpoint", "ls", "counter").split() == ["CHECKPOINT", "NAME"]


def _checkpoint_listen(stack: Stack) -> str:
    argv = Path(f"/proc/{stack.dockerd.pid}/cmdline").read_bytes().split(b"\0")  # type: ignore[union-attr]
    return argv[argv.index(b"--checkpoint-listen") + 1].decode()


def _post(stack: Stack, path: str) -> tuple[int, dict[str, str], bytes]:
    return _http(stack, "POST", path)


# ---------------------------------------------------------------------- pull


def _in_netns(stack: Stack, fn):  # type: ignore[no-untyped-def]
    """fn() on a thread that joined the stack's network namespace (setns is per thread),
    where the stack's dockerd, and the registry below, live."""
    from concurrent.futures import ThreadPoolExecutor

    from tests import hostcleanup

    def run():  # type: ignore[no-untyped-def]
        hostcleanup.setns(stack.netns, hostcleanup.CLONE_NEWNET)
        return fn()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result(60)


@pytest.fixture(scope="module")
def registry(engine: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's docker-registry on the stack's loopback, holding busybox as
    pyd/busybox:v1 (pushed over the registry's HTTP API from a `docker save`)."""
    import urllib.parse
    import urllib.request

    if not shutil.which("docker-registry"):
        pytest.skip("needs Debian's docker-registry (scripts/install.sh --dev)")
    d = tmp_path_factory.mktemp("registry")
    addr = "127.0.0.1:5000"  # the stack's own network namespace: nothing else there
    (d / "config.yml").write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n"
                                  f"  filesystem:\n    rootdirectory: {d / 'storage'}\n"
                                  f"http:\n  addr: {addr}\n")
    proc = subprocess.Popen(engine.netns_argv(["docker-registry", "serve",
                                               str(d / "config.yml")]),
                            stdout=subprocess.DEVNULL, stderr=open(d / "log", "wb"))
    try:
        archive = d / "busybox.tar"
        Docker(CLIENTS[sorted(CLIENTS)[0]], engine).ok("save", "-o", str(archive), "busybox")
        with tarfile.open(archive) as tar:
            def blob(digest: str) -> bytes:
                f = tar.extractfile("blobs/sha256/" + digest.removeprefix("sha256:"))
                assert f is not None
                return f.read()

            index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
            top = index["manifests"][0]
            manifest = blob(top["digest"])
            doc = json.loads(manifest)
            blobs = [blob(doc["config"]["digest"])] + [blob(x["digest"]) for x in doc["layers"]]

        def push() -> None:
            import hashlib

            base = f"http://{addr}/v2/pyd/busybox"
            deadline = time.monotonic() + 60  # a loaded 2-core machine starts it slowly
            while True:
                try:
                    urllib.request.urlopen(f"http://{addr}/v2/").close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("docker-registry did not answer: "
                                           + (d / "log").read_text()[-2000:]) from None
                    time.sleep(0.1)
            for b in blobs:
                req = urllib.request.Request(f"{base}/blobs/uploads/", method="POST")
                with urllib.request.urlopen(req) as r:
                    loc = urllib.parse.urljoin(base, r.headers["Location"])
                digest = "sha256:" + hashlib.sha256(b).hexdigest()
                url = loc + ("&" if "?" in loc else "?") + urllib.parse.urlencode(
                    {"digest": digest})
                urllib.request.urlopen(urllib.request.Request(
                    url, data=b, method="PUT",
                    headers={"Content-Type": "application/octet-stream"})).close()
            urllib.request.urlopen(urllib.request.Request(
                f"{base}/manifests/v1", data=manifest, method="PUT",
                headers={"Content-Type": top["mediaType"]})).close()

        _in_netns(engine, push)
        yield addr
    finally:
        proc.terminate()
        proc.wait(10)


def test_pull_from_a_registry(docker: Docker, registry: str) -> None:
    ref = f"{registry}/pyd/busybox:v1"
    out = docker("pull", ref)
    assert out.returncode == 0, out.stderr
    assert f"Status: Downloaded newer image for {ref}" in out.stdout
    assert docker.ok("run", "--rm", ref, "echo", "pulled") == "pulled\n"
    assert ref in docker.ok("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    missing = docker("pull", f"{registry}/pyd/nosuch:v1")
    assert missing.returncode == 1 and "nosuch" in missing.stderr
    docker.ok("rmi", ref)

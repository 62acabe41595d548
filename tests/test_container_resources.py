"""Resources of real containers through the CLI (issue 5): `stats` (Docker's columns,
two-sample CPU %, cgroup memory and pids, network bytes), `update` applied live and
kept across a restart, `export`, `system df`, and published ports answering on the
host's loopback."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from tests.stack import Stack, binary, wait_for

STATS_COLUMNS = ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O",
                 "BLOCK I/O", "PIDS"]
_UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1024, "MiB": 1 << 20,
          "GiB": 1 << 30}



def _bytes(text: str) -> float:
    """"1.5kB" / "64MiB" / "0B" → bytes (docker's HumanSize and BytesSize units)."""
    m = re.fullmatch(r"([0-9.]+)([A-Za-z]+)", text.strip())
    assert m, text
    return float(m.group(1)) * _UNITS[m.group(2)]


def _columns(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def _stats_rows(stack: Stack, *args: str) -> dict[str, dict[str, str]]:
    out = stack.cli("stats", "--no-stream", "--format", "{{json .}}", *args)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    return {r["Name"]: r for r in rows}


def _cgroup_dir(pid: int, controller: str) -> str:
    """The cgroup directory of `pid` holding `controller` (v1), or its v2 directory."""
    with open(f"/proc/{pid}/cgroup") as f:
        lines = [ln.rstrip("\n").split(":", 2) for ln in f]
    for _, ctrls, path in lines:
        if controller in ctrls.split(","):
            return f"/sys/fs/cgroup/{ctrls}{path}"
    for _, ctrls, path in lines:
        if not ctrls:
            for root in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
                if os.path.exists(f"{root}/cgroup.controllers"):
                    return root + path
    raise AssertionError(f"no {controller} cgroup for pid {pid}")


def _limits(pid: int) -> tuple[str, str, str]:
    """(memory limit, CFS quota, pids max) as the kernel has them for `pid`."""
    mem = _cgroup_dir(pid, "memory")
    cpu = _cgroup_dir(pid, "cpu")
    pids = _cgroup_dir(pid, "pids")

    def read(*candidates: str) -> str:
        for c in candidates:
            if os.path.exists(c):
                return Path(c).read_text().strip()
        raise AssertionError(f"none of {candidates}")

    memory = read(f"{mem}/memory.limit_in_bytes", f"{mem}/memory.max")
    quota = read(f"{cpu}/cpu.cfs_quota_us", f"{cpu}/cpu.max").split()[0]
    return memory, quota, read(f"{pids}/pids.max")


def _pid(stack: Stack, name: str) -> int:
    return int(json.loads(stack.cli("inspect", name).stdout)[0]["State"]["Pid"])


def test_stats_no_stream_shows_dockers_columns_and_real_usage(stack: Stack) -> None:
    assert stack.cli("run", "-d", "--name", "hot", "--memory", "64m", "--pids-limit", "50",
                     "busybox", "sh", "-c", "while :; do :; done").returncode == 0
    assert stack.cli("run", "-d", "--name", "idle", "busybox", "sleep", "600").returncode == 0
    assert stack.cli("create", "--name", "cold", "busybox", "true").returncode == 0
    gateway = json.loads(stack.cli("inspect", "idle").stdout)[0]["NetworkSettings"]["Gateway"]
    ping = stack.cli("exec", "idle", "ping", "-c", "3", "-s", "8000", "-W", "2", gateway)
    assert ping.returncode == 0, ping.stdout + ping.stderr

    table = stack.cli("stats", "--no-stream")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert _columns(lines[0]) == STATS_COLUMNS
    assert {_columns(ln)[1] for ln in lines[1:]} == {"hot", "idle"}  # running only

    rows = _stats_rows(stack)
    hot, idle = rows["hot"], rows["idle"]
    # Two samples a second apart: a busy loop shows as a busy CPU, a sleeper as idle.
    assert float(hot["CPUPerc"].rstrip("%")) > 25.0, hot
    assert float(idle["CPUPerc"].rstrip("%")) < 10.0, idle
    used, limit = (_bytes(x) for x in hot["MemUsage"].split(" / "))
    assert limit == 64 << 20 and 0 < used < limit
    assert abs(float(hot["MemPerc"].rstrip("%")) - used / limit * 100) < 1.0
    assert _bytes(idle["MemUsage"].split(" / ")[1]) > 64 << 20  # no limit: the host's memory
    assert hot["PIDs"] == "1" and idle["PIDs"] == "1"
    rx, tx = (_bytes(x) for x in idle["NetIO"].split(" / "))
    assert rx >= 3 * 8000 and tx >= 3 * 8000, idle["NetIO"]
    assert re.fullmatch(r"[0-9.]+[kMG]?B / [0-9.]+[kMG]?B", idle["BlockIO"])
    assert len(hot["ID"]) == 12

    # -a adds stopped containers with zero figures; a named unknown one is an error.
    cold = _stats_rows(stack, "-a")["cold"]
    assert (cold["CPUPerc"], cold["MemUsage"], cold["PIDs"]) == ("0.00%", "0B / 0B", "0")
    ghost = stack.cli("stats", "--no-stream", "ghost")
    assert ghost.returncode == 1 and ghost.stdout == ""
    assert ghost.stderr.strip() == "Error response from daemon: No such container: ghost"

    # Without --no-stream the table is redrawn every second until interrupted.
    env = {**os.environ, "PYD_HOST": stack.host}
    proc = subprocess.Popen(stack.netns_argv([binary("pyd"), "stats", "hot"]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        time.sleep(4.5)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    frames = out.decode().count("CONTAINER ID")
    assert frames >= 2, out


def test_update_changes_limits_live_and_they_survive_a_restart(stack: Stack) -> None:
    assert stack.cli("run", "-d", "--name", "upd", "busybox", "sleep", "600").returncode == 0
    upd = stack.cli("update", "--memory", "32m", "--cpus", "0.5", "--pids-limit", "4",
                    "--restart", "on-failure:2", "upd")
    assert upd.returncode == 0, upd.stderr
    assert upd.stdout == "upd\n"
    hc = json.loads(stack.cli("inspect", "upd").stdout)[0]["HostConfig"]
    assert (hc["Memory"], hc["NanoCpus"], hc["PidsLimit"]) == (32 << 20, 500_000_000, 4)
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert _limits(_pid(stack, "upd")) == (str(32 << 20), "50000", "4")
    assert _stats_rows(stack, "upd")["upd"]["MemUsage"].endswith(" / 32MiB")
    # The pids limit binds at once: sleep 600 + the exec'd shell + 3 children > 4.
    forks = stack.cli("exec", "upd", "sh", "-c", "sleep 9 & sleep 9 & sleep 9 & wait")
    assert forks.returncode != 0 and "fork" in (forks.stdout + forks.stderr).lower(), forks

    old_pid = _pid(stack, "upd")
    assert stack.cli("restart", "-t", "1", "upd").returncode == 0
    new_pid = _pid(stack, "upd")
    assert new_pid != old_pid
    assert _limits(new_pid) == (str(32 << 20), "50000", "4")

    assert stack.cli("update", "--pids-limit", "-1", "upd").returncode == 0
    assert _limits(new_pid)[2] == "max"
    assert json.loads(stack.cli("inspect", "upd").stdout)[0]["HostConfig"]["PidsLimit"] == 0

    small = stack.cli("update", "--memory", "1m", "upd")
    assert small.returncode == 1
    assert "Minimum memory limit allowed is 6MB" in small.stderr
    none = stack.cli("update", "upd")
    assert none.returncode == 1 and "you must provide one or more flags" in none.stderr
    # A stopped container takes the change for its next start.
    assert stack.cli("stop", "-t", "1", "upd").returncode == 0
    assert stack.cli("update", "--memory", "48m", "upd").returncode == 0
    assert stack.cli("start", "upd").returncode == 0
    assert _limits(_pid(stack, "upd"))[0] == str(48 << 20)


def _export(stack: Stack, *args: str) -> bytes:
    env = {**os.environ, "PYD_HOST": stack.host}
    out = subprocess.run(stack.netns_argv([binary("pyd"), "export", *args]),
                         capture_output=True, env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_export_writes_the_container_filesystem_as_a_tar(stack: Stack, tmp_path: Path) -> None:
    assert stack.cli("run", "-d", "--name", "exp", "-v", "ev:/vol", "busybox", "sh", "-c",
                     "echo data > /marker; echo x > /vol/in-volume; rm /etc/group; "
                     "sleep 600").returncode == 0
    assert wait_for(lambda: stack.cli("exec", "exp", "cat", "/marker").stdout == "data\n")
    target = tmp_path / "exp.tar"
    out = stack.cli("export", "-o", str(target), "exp")
    assert out.returncode == 0 and out.stdout == "", out.stderr
    streamed = _export(stack, "exp")
    for data in (target.read_bytes(), streamed):
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            names = set(tar.getnames())
            marker = tar.extractfile("marker")
            assert marker is not None and marker.read() == b"data\n"
        assert "bin/busybox" in names and "etc/passwd" in names
        assert "etc/group" not in names            # deleted in the container layer
        assert "vol/in-volume" not in names        # volumes are not the container's fs
        assert not any(n.startswith("proc/") for n in names)
    # A stopped container exports the same files.
    assert stack.cli("stop", "-t", "1", "exp").returncode == 0
    with tarfile.open(fileobj=io.BytesIO(_export(stack, "exp"))) as tar:
        assert "marker" in tar.getnames() and "etc/group" not in tar.getnames()
    ghost = stack.cli("export", "-o", str(tmp_path / "g.tar"), "ghost")
    assert ghost.returncode == 1 and "No such container: ghost" in ghost.stderr
    assert not (tmp_path / "g.tar").exists()


def test_system_df_counts_images_containers_and_volumes(stack: Stack) -> None:
    assert stack.cli("run", "-d", "--name", "dfa", "-v", "dfv:/data", "busybox", "sh", "-c",
                     "head -c 300000 /dev/zero > /data/x; head -c 200000 /dev/zero > /y; "
                     "touch /done; sleep 600").returncode == 0
    assert stack.cli("create", "--name", "dfb", "busybox", "true").returncode == 0
    assert wait_for(lambda: stack.cli("exec", "dfa", "ls", "/done").returncode == 0)
    df = stack.cli("system", "df")
    assert df.returncode == 0, df.stderr
    lines = [_columns(ln) for ln in df.stdout.splitlines()]
    assert lines[0] == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    rows = {r[0]: r[1:] for r in lines[1:]}
    images, containers, volumes = rows["Images"], rows["Containers"], rows["Local Volumes"]
    assert images[:2] == ["1", "1"] and _bytes(images[2]) > 100_000
    assert images[3] == "0B (0%)"  # the only image is in use
    assert containers[:2] == ["2", "1"]
    assert _bytes(containers[2]) >= 200_000
    assert containers[3] == "0B (0%)"  # the stopped one wrote nothing
    assert volumes[:3] == ["1", "1", "300kB"] and volumes[3] == "0B (0%)"
    assert rows["Build Cache"] == ["0", "0", "0B", "0B"]

    verbose = stack.cli("system", "df", "-v")
    assert verbose.returncode == 0, verbose.stderr
    text = verbose.stdout
    for title in ("Images space usage:", "Containers space usage:",
                  "Local Volumes space usage:", "Build cache usage: 0B"):
        assert title in text
    body = text.splitlines()
    vol_header = body.index("Local Volumes space usage:") + 2
    assert _columns(body[vol_header]) == ["VOLUME NAME", "LINKS", "SIZE"]
    assert _columns(body[vol_header + 1]) == ["dfv", "1", "300kB"]
    img_header = _columns(body[2])
    assert img_header == ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE",
                          "UNIQUE SIZE", "CONTAINERS"]
    assert _columns(body[3])[0:2] == ["busybox", "latest"] and _columns(body[3])[-1] == "2"
    dfa = next(_columns(ln) for ln in body if ln.endswith(" dfa"))
    assert dfa[3] == "1" and _bytes(dfa[4]) >= 200_000  # LOCAL VOLUMES, SIZE


def _http_get(stack: Stack, host: str, port: int) -> str:
    """GET / from inside the stack's network namespace (the stack's host)."""
    code = ("import socket,sys\n"
            "try:\n"
            f"    s=socket.create_connection(({host!r},{port}),timeout=3)\n"
            "    s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); d=b''\n"
            "    while (c:=s.recv(4096)): d+=c\n"
            "    sys.stdout.write(d.decode(errors='replace'))\n"
            "except OSError as e:\n"
            "    sys.stdout.write('ERR '+str(e))\n")
    out = subprocess.run(stack.netns_argv([sys.executable, "-c", code]), capture_output=True,
                         text=True, timeout=30, check=False)
    return out.stdout


def _nat_rules(stack: Stack) -> str:
    out = subprocess.run(stack.netns_argv(["iptables", "-w", "-t", "nat", "-S"]),
                         capture_output=True, text=True, check=True)
    return out.stdout


def test_published_ports_answer_on_the_host_loopback_and_go_on_stop(stack: Stack) -> None:
    run = stack.cli("run", "-d", "--name", "web", "-p", "127.0.0.1:18080:80",
                    "-p", "18081:80", "busybox", "sh", "-c",
                    "echo hello-from-pyd > /tmp/index.html; httpd -f -p 80 -h /tmp")
    assert run.returncode == 0, run.stderr
    port = stack.cli("port", "web")
    assert sorted(port.stdout.splitlines()) == ["80/tcp -> 0.0.0.0:18081",
                                                "80/tcp -> 127.0.0.1:18080"]
    for hostport in (18080, 18081):
        assert wait_for(lambda p=hostport: "hello-from-pyd" in _http_get(  # type: ignore[misc]
            stack, "127.0.0.1", p)), _http_get(stack, "127.0.0.1", hostport)
    gateway = json.loads(stack.cli("inspect", "web").stdout)[0]["NetworkSettings"]["Gateway"]
    # 0.0.0.0:18081 answers on the host's other addresses too; 127.0.0.1:18080 does not.
    assert "hello-from-pyd" in _http_get(stack, gateway, 18081)
    assert "hello-from-pyd" not in _http_get(stack, gateway, 18080)
    ps = stack.cli("ps", "--format", "{{.Ports}}")
    assert ps.stdout.strip() == "0.0.0.0:18081->80/tcp, 127.0.0.1:18080->80/tcp"

    assert stack.cli("stop", "-t", "1", "web").returncode == 0
    assert "ERR" in _http_get(stack, "127.0.0.1", 18080)
    rules = _nat_rules(stack)
    assert "18080" not in rules and "18081" not in rules, rules
    # The ports are free again for the next container.
    again = stack.cli("run", "-d", "--name", "web2", "-p", "18081:80", "busybox", "sleep", "60")
    assert again.returncode == 0, again.stderr

"""Lazy restore across two hosts (issue 6): host A checkpoints a container holding
512 MiB of touched memory and a counter; host B restores it with
`pyd start --lazy-restore pyd://A:PORT/CONTAINER/CHECKPOINT` and it runs on before its
memory has arrived. Each host is a whole stack in its own network namespace; the two
namespaces are joined by a veth pair."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyd_dockerd.images import busybox
from pyd_runtime.criu.testing import counter_binary
from tests.stack import Stack, private_stack

A_IP, B_IP, PORT = "10.231.0.1", "10.231.0.2", 7788
MIB = 512


def _tar_member(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), mode, 0
    tar.addfile(ti, io.BytesIO(data))


def counter_image(path: Path) -> None:
    """`counter:latest` as a docker-save tar: busybox plus the static counter program,
    reproducible, so both hosts load the very same image (same digest)."""
    base = busybox.layer_tar()
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        _tar_member(t, "counter-bin", counter_binary().read_bytes(), 0o755)
    top = layer.getvalue()
    diffs = ["sha256:" + hashlib.sha256(x).hexdigest() for x in (base, top)]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["/counter-bin", str(MIB)]},
                         "rootfs": {"type": "layers", "diff_ids": diffs}},
                        sort_keys=True).encode()
    cfg = hashlib.sha256(config).hexdigest()
    with tarfile.open(path, "w") as tar:
        for d, data in zip(diffs, (base, top), strict=True):
            _tar_member(tar, f"{d[7:]}/layer.tar", data, 0o644)
        _tar_member(tar, f"{cfg}.json", config, 0o644)
        _tar_member(tar, "manifest.json", json.dumps([{
            "Config": f"{cfg}.json", "RepoTags": ["counter:latest"],
            "Layers": [f"{d[7:]}/layer.tar" for d in diffs]}]).encode(), 0o644)


def link_name() -> str:
    return f"vl{os.getpid() % 100000}"


def link_hosts(a: Stack, b: Stack) -> str:
    """A veth pair between the two stacks' network namespaces; returns the name of A's
    end (B's is the same with a final "b" for "a")."""
    from pyroute2 import IPRoute, NetNS

    name = link_name()
    with IPRoute() as ip:
        ip.link("add", ifname=f"{name}a", kind="veth", peer=f"{name}b")
        for end, stack in ((f"{name}a", a), (f"{name}b", b)):
            idx = ip.link_lookup(ifname=end)[0]
            ip.link("set", index=idx, net_ns_fd=stack.netns)
    for end, stack, addr in ((f"{name}a", a, A_IP), (f"{name}b", b, B_IP)):
        with NetNS(stack.netns) as ns:
            idx = ns.link_lookup(ifname=end)[0]
            ns.addr("add", index=idx, address=addr, prefixlen=24)
            ns.link("set", index=idx, state="up")
    return f"{name}a"


def slow_link(s: Stack, ifname: str, rate: str) -> None:
    """Limit what leaves `s` through `ifname` (a token bucket, as `tc qdisc add ... tbf`):
    a slow network between the hosts, so a background transfer takes seconds."""
    from pyroute2 import NetNS

    with NetNS(s.netns) as ns:
        idx = ns.link_lookup(ifname=ifname)[0]
        ns.tc("add", "tbf", index=idx, handle="1:", rate=rate, burst=64 * 1024,
              latency="50ms")


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[tuple[Stack, Stack]]:
    with private_stack(start=False) as a, private_stack(start=False) as b:
        link_hosts(a, b)
        a.start(30.0, "--checkpoint-listen", f"{A_IP}:{PORT}")
        b.start()
        image = tmp_path / "counter.tar"
        counter_image(image)
        for s in (a, b):
            out = s.cli("load", "-i", str(image))
            assert out.returncode == 0, out.stderr
        yield a, b


def counter(s: Stack, name: str) -> tuple[int, str]:
    """The counter's value and health; the program rewrites its file in place, so an
    empty read (between truncate and write) is retried."""
    for _ in range(50):
        out = s.cli("exec", name, "cat", "/counter")
        assert out.returncode == 0, out.stderr
        fields = out.stdout.split()
        if len(fields) == 2:
            return int(fields[0]), fields[1]
        time.sleep(0.1)
    raise AssertionError(f"no counter reading from {name}")


def wait_until(pred, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return False


def test_lazy_restore_from_another_host_runs_before_memory_arrives(
        hosts: tuple[Stack, Stack]) -> None:
    a, b = hosts
    assert a.cli("run", "-d", "--name", "mover", "--network", "none", "counter").returncode == 0
    assert wait_until(lambda: a.cli("exec", "mover", "cat", "/counter").stdout.strip() != ""
                      and counter(a, "mover")[0] > 5)
    value_on_a, _ = counter(a, "mover")
    created = a.cli("checkpoint", "create", "mover", "cp1")
    assert created.returncode == 0, created.stderr
    address = f"pyd://{A_IP}:{PORT}/mover/cp1"
    assert address in created.stdout
    assert b.cli("create", "--name", "mover", "--network", "none", "counter").returncode == 0
    t0 = time.monotonic()
    started = b.cli("start", "--lazy-restore", address, "mover")
    elapsed = time.monotonic() - t0
    assert started.returncode == 0, started.stderr
    state = json.loads(b.cli("inspect", "mover").stdout)[0]["State"]
    assert state["Running"] is True
    lazy = state["LazyRestore"]
    assert lazy["Address"] == address
    assert lazy["BytesBeforeRunning"] < MIB * 1024 * 1024 // 10
    first, ok = counter(b, "mover")
    assert ok == "ok" and first >= value_on_a
    assert wait_until(lambda: counter(b, "mover")[0] > first + 5)
    # The rest streams in behind; once it has, A can go and B runs on.
    time.sleep(5)
    a.teardown()
    later, ok = counter(b, "mover")
    assert wait_until(lambda: counter(b, "mover")[0] > later + 5)
    assert counter(b, "mover")[1] == "ok"
    print(f"lazy restore: {elapsed:.2f}s to running, {lazy['BytesBeforeRunning']} bytes before")


def _pki(d: Path) -> dict[str, Path]:
    """A CA, a certificate for each host (server and client use), and a rogue CA's."""
    import subprocess

    d.mkdir(parents=True, exist_ok=True)

    def ossl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    for ca in ("ca", "rogue-ca"):
        ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             f"/CN={ca}", "-keyout", str(d / f"{ca}.key"), "-out", str(d / f"{ca}.pem"))
    for name, issuer, ip in (("a", "ca", A_IP), ("b", "ca", B_IP), ("rogue", "rogue-ca", B_IP)):
        (d / f"{name}.ext").write_text(f"subjectAltName=IP:{ip}\n"
                                       "extendedKeyUsage=serverAuth,clientAuth\n")
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout",
             str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"))
        ossl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / f"{issuer}.pem"),
             "-CAkey", str(d / f"{issuer}.key"), "-CAcreateserial", "-days", "2",
             "-extfile", str(d / f"{name}.ext"), "-out", str(d / f"{name}.pem"))
    return {n: d / n for n in ("ca.pem", "rogue-ca.pem", "a.pem", "a.key", "b.pem", "b.key",
                               "rogue.pem", "rogue.key")}


_PROBE = r"""
import json, socket, ssl, struct, sys
import grpc
from pyd_proto.pyd.dockerd.v1 import transfer_pb2, transfer_pb2_grpc

ca, cert, key, rogue_cert, rogue_key, host, port = sys.argv[1:]
creds = grpc.ssl_channel_credentials(open(ca, "rb").read(), open(key, "rb").read(),
                                     open(cert, "rb").read())
with grpc.secure_channel(f"{host}:{port}", creds) as ch:
    plan = transfer_pb2_grpc.CheckpointTransferStub(ch).Plan(
        transfer_pb2.CheckpointPlanRequest(container="small", checkpoint="cp"), timeout=30)
CLOSE = struct.pack("<IIQQ", 0x1023, 0, 0, 0)  # PS_IOV_CLOSE: answered with 4 zero bytes

def ask(sock):
    try:
        sock.sendall(CLOSE)
        got = b""
        while len(got) < 4:
            data = sock.recv(4 - len(got))
            if not data:
                break
            got += data
    except OSError:
        return "refused"
    return "closed" if got == b"\0\0\0\0" else "refused"

def tls(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(cert, key)
    try:
        raw = socket.create_connection((host, plan.page_server_port), timeout=10)
        return ask(ctx.wrap_socket(raw, server_hostname=host))
    except OSError:
        return "refused"

out = {"rogue": tls(rogue_cert, rogue_key)}
out["plain"] = ask(socket.create_connection((host, plan.page_server_port), timeout=10))
out["good"] = tls(cert, key)
print(json.dumps(out))
"""


def _probe_page_server(b: Stack, pki: dict[str, Path]) -> dict[str, str]:
    """From B's network: ask A for a plan (with B's good certificate), then talk to the
    page server it names with a rogue certificate, in plain TCP, and with the good one;
    what each got: "closed" (the page server answered its CLOSE) or "refused"."""
    import subprocess
    import sys

    out = subprocess.run(
        b.netns_argv([sys.executable, "-c", _PROBE, str(pki["ca.pem"]), str(pki["b.pem"]),
                      str(pki["b.key"]), str(pki["rogue.pem"]), str(pki["rogue.key"]), A_IP,
                      str(PORT)]),
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result: dict[str, str] = json.loads(out.stdout)
    return result


def test_without_the_right_certificate_b_cannot_fetch_a_checkpoint(tmp_path: Path) -> None:
    pki = _pki(tmp_path / "pki")
    tls_a = ["--tlscacert", str(pki["ca.pem"]), "--tlscert", str(pki["a.pem"]),
             "--tlskey", str(pki["a.key"])]
    rogue = ["--tlscacert", str(pki["rogue-ca.pem"]), "--tlscert", str(pki["rogue.pem"]),
             "--tlskey", str(pki["rogue.key"])]
    good = ["--tlscacert", str(pki["ca.pem"]), "--tlscert", str(pki["b.pem"]),
            "--tlskey", str(pki["b.key"])]
    with private_stack(start=False) as a, private_stack(start=False) as b:
        link_hosts(a, b)
        a.start(30.0, "--checkpoint-listen", f"{A_IP}:{PORT}", *tls_a)
        b.start(30.0, *rogue)
        counter_image(tmp_path / "counter.tar")
        for s in (a, b):
            assert s.cli("load", "-i", str(tmp_path / "counter.tar")).returncode == 0
        assert a.cli("run", "-d", "--name", "small", "--network", "none", "counter",
                     "/counter-bin", "16").returncode == 0
        assert wait_until(lambda: a.cli("exec", "small", "cat", "/counter").stdout.strip() != "")
        assert a.cli("checkpoint", "create", "small", "cp").returncode == 0
        assert b.cli("create", "--name", "small", "--network", "none", "counter",
                     "/counter-bin", "16").returncode == 0
        refused = b.cli("start", "--lazy-restore", f"pyd://{A_IP}:{PORT}/small/cp", "small")
        assert refused.returncode == 125
        assert "Error response from daemon" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert json.loads(b.cli("inspect", "small").stdout)[0]["State"]["Running"] is False
        # The pages are served over TLS as well, to the right certificate only.
        probe = _probe_page_server(b, pki)
        assert probe == {"rogue": "refused", "plain": "refused", "good": "closed"}, probe
        # The same host with a certificate of A's CA gets it.
        b.stop()
        b.start(30.0, *good)
        ok = b.cli("start", "--lazy-restore", f"pyd://{A_IP}:{PORT}/small/cp", "small")
        assert ok.returncode == 0, ok.stderr
        assert wait_until(lambda: counter(b, "small")[1] == "ok")


def _leftovers(s: Stack, cid: str) -> dict[str, object]:
    """What the container `cid` (or its restore) may have left on host `s`."""
    from tests import hostcleanup

    paths = [str(s.root), str(s.state)]
    pids = {p for p in hostcleanup.pids_mentioning(paths)
            if cid in hostcleanup._cmdline(p) or "lazy-pages" in hostcleanup._cmdline(p)}
    state_dirs = [s.state / "containerd" / "io.containerd.runtime.v2.task" / "moby" / cid,
                  s.state / "runc" / "moby" / cid]
    return {"pids": pids | hostcleanup.pids_in_cgroups(f"{s.cgroup_parent}/{cid}"),
            "mounts": [m for m in hostcleanup.mounts_under(paths) if cid in m],
            "cgroups": hostcleanup.cgroup_dirs(f"{s.cgroup_parent}/{cid}"),
            "state dirs": [str(d) for d in state_dirs if d.exists()]}


def test_source_killed_mid_transfer_ends_the_restored_container_with_a_reason(
        hosts: tuple[Stack, Stack]) -> None:
    import signal

    from tests import hostcleanup

    a, b = hosts
    # 256 MiB over a 160 Mbit/s link: the background transfer takes about 13 s.
    slow_link(a, link_name() + "a", "160mbit")
    assert a.cli("run", "-d", "--name", "mover", "--network", "none", "counter",
                 "/counter-bin", "256").returncode == 0
    assert wait_until(lambda: a.cli("exec", "mover", "cat", "/counter").stdout.strip() != "")
    assert a.cli("checkpoint", "create", "mover", "cp1").returncode == 0
    # Clear refusals first: another image, an unknown checkpoint.
    assert b.cli("create", "--name", "other", "--network", "none", "busybox", "sleep", "60"
                 ).returncode == 0
    other = b.cli("start", "--lazy-restore", f"pyd://{A_IP}:{PORT}/mover/cp1", "other")
    assert other.returncode == 125 and "different image" in other.stderr, other.stderr
    unknown = b.cli("start", "--lazy-restore", f"pyd://{A_IP}:{PORT}/mover/nope", "other")
    assert unknown.returncode == 125 and "does not exist" in unknown.stderr, unknown.stderr
    assert b.cli("create", "--name", "mover", "--network", "none", "counter",
                 "/counter-bin", "256").returncode == 0
    started = b.cli("start", "--lazy-restore", f"pyd://{A_IP}:{PORT}/mover/cp1", "mover")
    assert started.returncode == 0, started.stderr
    cid = json.loads(b.cli("inspect", "mover").stdout)[0]["Id"]
    lazy_pages = {p for p in hostcleanup.pids_mentioning([str(b.state)])
                  if "lazy-pages" in hostcleanup._cmdline(p)}
    assert lazy_pages, "the transfer ended before the source could be killed"
    # A's host dies: dockerd (which serves the pages) and its containerd, at once.
    containerd = a.containerd_pid()
    a.stop(signal.SIGKILL)
    if containerd:
        os.kill(containerd, signal.SIGKILL)
    t0 = time.monotonic()

    def stopped() -> bool:
        return json.loads(b.cli("inspect", "mover").stdout)[0]["State"]["Running"] is False

    assert wait_until(stopped, 10.0), "B's container still runs 10 s after its source died"
    took = time.monotonic() - t0
    state = json.loads(b.cli("inspect", "mover").stdout)[0]["State"]
    assert state["Status"] == "exited"
    assert state["ExitCode"] != 0
    assert "lazy-pages" in state["Error"] and "before every page arrived" in state["Error"]
    assert state["LazyRestore"]["Status"] == "failed"
    ps = b.cli("ps", "-a", "--filter", "name=mover", "--format", "{{.Status}}")
    assert ps.stdout.startswith("Exited"), ps.stdout
    assert wait_until(lambda: not any(_leftovers(b, cid).values()), 10.0), _leftovers(b, cid)
    print(f"source killed: B's container stopped {took:.2f}s later: {state['Error']!r}")

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


def link_hosts(a: Stack, b: Stack) -> None:
    """A veth pair between the two stacks' network namespaces."""
    from pyroute2 import IPRoute, NetNS

    name = f"vl{os.getpid() % 100000}"
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
        # The same host with a certificate of A's CA gets it.
        b.stop()
        b.start(30.0, *good)
        ok = b.cli("start", "--lazy-restore", f"pyd://{A_IP}:{PORT}/small/cp", "small")
        assert ok.returncode == 0, ok.stderr
        assert wait_until(lambda: counter(b, "small")[1] == "ok")

"""Socket activation: sd_listen_fds semantics, moby's fd:// selection, and a gRPC daemon
served through sockets it did not create (relayed to its own socket)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pyd_proto import activation
from pyd_proto.server import Daemon


def _listener(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(16)
    return s


def test_listen_fds_only_for_the_named_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LISTEN_PID", str(os.getpid() + 1))
    monkeypatch.setenv("LISTEN_FDS", "1")
    assert activation.listen_fds() == []
    assert "LISTEN_FDS" not in os.environ and "LISTEN_PID" not in os.environ


def test_listen_fds_start_at_3_and_are_not_inherited(tmp_path: Path) -> None:
    # In a process of its own: fds 3 and 4 become the "passed" sockets there.
    script = f"""
import os, socket
from pyd_proto import activation
held = [os.open("/dev/null", os.O_RDONLY) for _ in range(2)]  # 3 and 4 are taken...
for fd, name in ((3, "a"), (4, "b")):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind("{tmp_path}/" + name + ".sock"); s.listen(1)
    os.dup2(s.fileno(), fd, inheritable=True)  # ...and become the passed sockets
    s.close()
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="2", LISTEN_FDNAMES="a:b")
fds = activation.listen_fds()
print(fds, [os.get_inheritable(fd) for fd in fds], sorted(k for k in os.environ
                                                         if k.startswith("LISTEN_")))
print([activation.socket_address(s) for s in activation.listeners_for("", fds)])
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "[3, 4] [False, False] []",
        str([f"unix://{tmp_path}/a.sock", f"unix://{tmp_path}/b.sock"])]


def test_fd_addresses_follow_moby(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no sockets found via socket activation"):
        activation.listeners_for("", [])
    a, b = _listener(tmp_path / "a.sock"), _listener(tmp_path / "b.sock")
    fa, fb = os.dup(a.fileno()), os.dup(b.fileno())
    with pytest.raises(ValueError, match="should be a number: x"):
        activation.listeners_for("x", [fa, fb])
    with pytest.raises(ValueError, match="too few socket activated files"):
        activation.listeners_for(str(fb + 1), [fa, fb])
    (only,) = activation.listeners_for(str(fb), [fa, fb])
    assert only.fileno() == fb
    with pytest.raises(OSError):  # the other one was closed, as moby does
        os.fstat(fa)
    assert activation.socket_address(only) == f"unix://{tmp_path / 'b.sock'}"
    only.close()
    a.close()
    b.close()


def test_a_connected_socket_is_refused(tmp_path: Path) -> None:
    left, right = socket.socketpair()
    with pytest.raises(ValueError, match="not listening"):
        activation.unix_listener(left.fileno())
    left.close()
    right.close()


@pytest.fixture
def activated(tmp_path: Path) -> Iterator[tuple[Daemon, Path, socket.socket]]:
    """A daemon serving health on its own socket and, relayed, on `public`: a socket
    "systemd" (this test) created and keeps."""
    public = tmp_path / "public.sock"
    held = _listener(public)
    daemon = Daemon("test", str(tmp_path / "own.sock"))
    echo = grpc.method_handlers_generic_handler("test.Echo", {
        "Echo": grpc.stream_stream_rpc_method_handler(lambda chunks, _: iter(chunks))})
    daemon.server.add_generic_rpc_handlers((echo,))
    daemon.serve_listeners([socket.socket(fileno=os.dup(held.fileno()))])
    daemon.start()
    daemon.health.set("", health_pb2.HealthCheckResponse.SERVING)
    try:
        yield daemon, public, held
    finally:
        if os.path.exists(daemon.socket_path):
            daemon.stop(1.0)
        held.close()


def _wait_serving(channel: grpc.Channel) -> health_pb2.HealthCheckResponse:
    stub = health_pb2_grpc.HealthStub(channel)
    return stub.Check(health_pb2.HealthCheckRequest(), timeout=10, wait_for_ready=True)


def test_grpc_through_the_activated_socket(
        activated: tuple[Daemon, Path, socket.socket]) -> None:
    daemon, public, _ = activated
    assert daemon.addresses == f"unix://{public} (socket activation)"
    with grpc.insecure_channel(f"unix:{public}") as ch:
        assert _wait_serving(ch).status == health_pb2.HealthCheckResponse.SERVING
        # A stream stays open through the relay and sees the daemon's updates.
        watch = health_pb2_grpc.HealthStub(ch).Watch(health_pb2.HealthCheckRequest(),
                                                     timeout=10)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        daemon.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()
        # Many connections at once, each relayed on its own.
        results: list[int] = []

        def call() -> None:
            with grpc.insecure_channel(f"unix:{public}") as c:
                results.append(_wait_serving(c).status)

        threads = [threading.Thread(target=call) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert len(results) == 20


def test_bulk_data_both_ways_through_the_relay(
        activated: tuple[Daemon, Path, socket.socket]) -> None:
    _, public, _ = activated
    chunks = [os.urandom(1 << 20) for _ in range(24)]  # past every socket and pipe buffer
    with grpc.insecure_channel(f"unix:{public}") as ch:
        _wait_serving(ch)
        call = ch.stream_stream("/test.Echo/Echo", None, None)
        assert list(call(iter(chunks), timeout=60)) == chunks


def test_stopping_leaves_the_activated_socket_to_systemd(
        activated: tuple[Daemon, Path, socket.socket]) -> None:
    daemon, public, held = activated
    with grpc.insecure_channel(f"unix:{public}") as ch:
        _wait_serving(ch)
    daemon.stop(1.0)
    assert not Path(daemon.socket_path).exists()
    # The socket is still systemd's and still listening: a client that connects now
    # waits in its queue (for the next start) instead of being refused.
    assert public.exists()
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(str(public))
    conn, _ = held.accept()
    conn.close()
    c.close()

"""ttrpc framing and envelopes, and a server and client over a real unix socket."""

from __future__ import annotations

import threading

import pytest
from google.protobuf import empty_pb2

from pyd_proto.containerd.runtime.task.v2 import shim_pb2 as pb
from pyd_proto.errdefs import FailedPrecondition, NotFound, Unavailable, Unimplemented
from pyd_shim import ttrpc


def test_request_and_response_round_trip():
    req = ttrpc.Request("svc.S", "M", b"\x01\x02", 5_000_000_000, {"k": "v", "a": ""})
    back = ttrpc.Request.decode(req.encode())
    assert (back.service, back.method, back.payload, back.timeout_nano, back.metadata) == \
        ("svc.S", "M", b"\x01\x02", 5_000_000_000, {"k": "v", "a": ""})
    resp = ttrpc.Response(ttrpc.CODES["NOT_FOUND"], "gone", b"xyz")
    back2 = ttrpc.Response.decode(resp.encode())
    assert (back2.code, back2.message, back2.payload) == (5, "gone", b"xyz")
    assert ttrpc.Response.decode(ttrpc.Response().encode()).code == 0


def test_error_codes_map_to_typed_errors():
    assert isinstance(ttrpc.error_for(5, "x"), NotFound)
    assert isinstance(ttrpc.error_for(9, "x"), FailedPrecondition)
    assert isinstance(ttrpc.error_for(12, "x"), Unimplemented)


@pytest.fixture
def server(tmp_path):
    srv = ttrpc.Server()
    path = str(tmp_path / "t.sock")
    listener = ttrpc.listen(path)
    t = threading.Thread(target=srv.serve, args=(listener,), daemon=True)
    t.start()
    yield srv, path
    srv.close()
    t.join(5)


def test_calls_errors_and_concurrency_over_a_socket(server):
    srv, path = server
    gate = threading.Event()

    def state(req: pb.StateRequest, call: ttrpc.Call) -> pb.StateResponse:
        if req.id == "missing":
            raise NotFound("no such task")
        if req.id == "slow":
            gate.wait(5)
        return pb.StateResponse(id=req.id, pid=42, bundle=call.namespace)

    srv.register("containerd.task.v2.Task", "State", pb.StateRequest, state)
    client = ttrpc.Client(path, metadata={ttrpc.NAMESPACE_KEY: "ns1"})
    try:
        got = client.call("containerd.task.v2.Task", "State", pb.StateRequest(id="a"),
                          pb.StateResponse())
        assert (got.id, got.pid, got.bundle) == ("a", 42, "ns1")
        with pytest.raises(NotFound, match="no such task"):
            client.call("containerd.task.v2.Task", "State", pb.StateRequest(id="missing"),
                        pb.StateResponse())
        with pytest.raises(Unimplemented):
            client.call("containerd.task.v2.Task", "Nope", pb.StateRequest(), pb.StateResponse())
        # A blocked call does not hold up others on the same connection.
        slow: list[pb.StateResponse] = []
        t = threading.Thread(target=lambda: slow.append(client.call(
            "containerd.task.v2.Task", "State", pb.StateRequest(id="slow"), pb.StateResponse())))
        t.start()
        fast = client.call("containerd.task.v2.Task", "State", pb.StateRequest(id="b"),
                           pb.StateResponse())
        assert fast.id == "b" and not slow
        gate.set()
        t.join(5)
        assert slow[0].id == "slow"
    finally:
        client.close()


def test_client_learns_when_the_peer_goes_away(tmp_path):
    # A peer that reads the request and dies, as a shim killed with -9 would.
    path = str(tmp_path / "dying.sock")
    listener = ttrpc.listen(path)

    def die() -> None:
        conn, _ = listener.accept()
        ttrpc.read_frame(conn)
        conn.close()

    t = threading.Thread(target=die)
    t.start()
    closed = threading.Event()
    client = ttrpc.Client(path, on_close=closed.set)
    with pytest.raises(Unavailable):
        client.call("s", "Block", empty_pb2.Empty(), empty_pb2.Empty(), timeout=5)
    assert closed.wait(5) and client.closed
    t.join(5)
    listener.close()
    with pytest.raises(Unavailable):
        ttrpc.Client(path + ".missing")

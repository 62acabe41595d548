"""pyd_proto.validation: the checks every daemon applies to a request before its handler
runs, over a real gRPC server on a temporary unix socket."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2

from pyd_proto import errdefs
from pyd_proto.containerd.services.containers.v1 import containers_pb2, containers_pb2_grpc
from pyd_proto.errdefs import InvalidArgument
from pyd_proto.validation import MAX_STRING, RequestValidator, check_message


def test_nul_bytes_are_refused_anywhere_in_the_message() -> None:
    check_message(containers_pb2.Container(id="ok", labels={"a": "b"}))
    for msg in (containers_pb2.Container(id="a\0b"),
                containers_pb2.Container(id="ok", labels={"a": "b\0"}),
                containers_pb2.Container(id="ok", labels={"a\0": "b"}),
                containers_pb2.CreateContainerRequest(container=containers_pb2.Container(
                    id="ok", runtime=containers_pb2.Container.Runtime(name="\0")))):
        with pytest.raises(InvalidArgument, match="NUL"):
            check_message(msg)


def test_strings_beyond_the_kernel_argument_limit_are_refused_without_echo() -> None:
    check_message(containers_pb2.Container(id="x" * MAX_STRING))
    with pytest.raises(InvalidArgument) as e:
        check_message(containers_pb2.Container(id="x" * (MAX_STRING + 1)))
    assert "xxxx" not in str(e.value) and "id:" in str(e.value)
    # Inside a Struct (Docker's JSON shapes travel as Structs) too.
    s = struct_pb2.Struct()
    s.update({"Cmd": ["sh", "-c", "y" * (MAX_STRING + 1)]})
    with pytest.raises(InvalidArgument):
        check_message(s)


def test_a_field_of_the_wrong_wire_type_is_refused() -> None:
    # Field 1 (id, a string) sent as a varint: protobuf keeps it as an unknown field.
    msg = containers_pb2.GetContainerRequest.FromString(b"\x08\x05")
    assert msg.id == ""
    with pytest.raises(InvalidArgument, match="id: wrong type"):
        check_message(msg)
    # A field number this version does not know is fine (newer clients).
    check_message(containers_pb2.GetContainerRequest.FromString(b"\xc0\x3e\x01"))


def test_status_messages_are_cut_to_fit_a_trailer() -> None:
    class Context:
        def abort(self, code: grpc.StatusCode, details: str) -> None:
            self.got = (code, details)

    ctx = Context()
    errdefs.abort(ctx, errdefs.NotFound("No such container: " + "x" * (10 << 20)))  # type: ignore[arg-type]
    assert ctx.got[0] is grpc.StatusCode.NOT_FOUND
    assert len(ctx.got[1]) == errdefs.MAX_MESSAGE and ctx.got[1].endswith("...")


class Containers(containers_pb2_grpc.ContainersServicer):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def Get(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.seen.append(request.id)
        return containers_pb2.GetContainerResponse(container=containers_pb2.Container(
            id=request.id))

    def Delete(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.seen.append(request.id)
        return empty_pb2.Empty()


@pytest.fixture
def served() -> Iterator[tuple[grpc.Channel, Containers]]:
    def no_x(request: Any) -> None:
        if request.id.startswith("x"):
            raise InvalidArgument("no x")

    servicer = Containers()  # type: ignore[abstract]  # only Get and Delete are served
    server = grpc.server(futures.ThreadPoolExecutor(4), interceptors=[RequestValidator(
        {"/containerd.services.containers.v1.Containers/Delete": no_x})])
    containers_pb2_grpc.add_ContainersServicer_to_server(servicer, server)
    with tempfile.TemporaryDirectory() as d:
        sock = Path(d, "s.sock")
        server.add_insecure_port(f"unix:{sock}")
        server.start()
        channel = grpc.insecure_channel(f"unix:{sock}")
        try:
            yield channel, servicer
        finally:
            channel.close()
            server.stop(0).wait()


def test_bad_requests_never_reach_the_handler(served: tuple[grpc.Channel, Containers]) -> None:
    channel, servicer = served
    stub = containers_pb2_grpc.ContainersStub(channel)
    assert stub.Get(containers_pb2.GetContainerRequest(id="ok"), timeout=10).container.id == "ok"
    raw = channel.unary_unary("/containerd.services.containers.v1.Containers/Get",
                              request_serializer=None, response_deserializer=None)
    for payload in (b"\xff\xff\xff", b"\x0a\x03\xff\xfe\xfd", b"\x08\x05",
                    containers_pb2.GetContainerRequest(id="a\0b").SerializeToString()):
        with pytest.raises(grpc.RpcError) as e:
            raw(payload, timeout=10)
        assert e.value.code() is grpc.StatusCode.INVALID_ARGUMENT, payload  # type: ignore[attr-defined]
    # The daemon's own rule, for its method only.
    with pytest.raises(grpc.RpcError) as e:
        stub.Delete(containers_pb2.DeleteContainerRequest(id="xyz"), timeout=10)
    assert e.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert e.value.details() == "no x"  # type: ignore[attr-defined]
    assert stub.Get(containers_pb2.GetContainerRequest(id="xyz"), timeout=10).container.id
    assert servicer.seen == ["ok", "xyz"]

"""Reading the runtime binary and root from a container's `runtime.options`."""

from __future__ import annotations

import json

import pytest
from google.protobuf import any_pb2, struct_pb2

from pyd_containerd.tasks.manager import runtime_options
from pyd_proto.errdefs import InvalidArgument
from pyd_shim import ttrpc


def test_upstream_runc_options_message():
    # containerd.runc.v1.Options: binary_name = 6, root = 7, systemd_cgroup = 9
    value = (ttrpc.field_bytes(6, b"/usr/sbin/runc") + ttrpc.field_bytes(7, b"/run/x")
             + ttrpc.field_varint(9, 1))
    opts = runtime_options(any_pb2.Any(
        type_url="type.googleapis.com/containerd.runc.v1.Options", value=value))
    assert opts == {"binary_name": "/usr/sbin/runc", "root": "/run/x", "systemd_cgroup": True}


def test_struct_and_json_options():
    data = struct_pb2.Struct()
    data.update({"binary_name": "runc"})
    packed = any_pb2.Any()
    packed.Pack(data)
    assert runtime_options(packed) == {"binary_name": "runc"}
    raw = any_pb2.Any(type_url="pyd/runtime-options",
                      value=json.dumps({"binary_name": "pyd-runc"}).encode())
    assert runtime_options(raw) == {"binary_name": "pyd-runc"}
    assert runtime_options(None) == {}


def test_options_that_are_not_understood_are_refused():
    with pytest.raises(InvalidArgument):
        runtime_options(any_pb2.Any(type_url="x/unknown", value=b"\x01\x02"))

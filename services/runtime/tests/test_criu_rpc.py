"""CRIU's RPC messages, encoded by hand, and a real `criu swrk` conversation."""

from __future__ import annotations

import os
import shutil

import pytest

from pyd_runtime.criu.criu import Criu, CriuError
from pyd_runtime.criu.protowire import Message, decode
from pyd_runtime.criu.rpc import CgMode, CriuOpts, CriuReq, PageServerInfo, ReqType, decode_resp


def test_request_fields_use_rpc_proto_numbers():
    opts = CriuOpts(images_dir_fd=7, pid=42, leave_running=True, log_level=4,
                    ps=PageServerInfo("10.0.0.1", 27), ext_mnt=[("/a", "/b")],
                    inherit_fd=[("extRootNetNS", 5)], manage_cgroups_mode=CgMode.SOFT,
                    lazy_pages=True, empty_ns=0x40000000)
    req = decode(CriuReq(ReqType.RESTORE, opts, notify_success=True).encode())
    assert req[1] == [2] and req[3] == [1]
    o = decode(req[2][0])
    assert o[1] == [7] and o[2] == [42] and o[3] == [1] and o[9] == [4] and o[48] == [1]
    assert decode(o[11][0]) == {1: [b"10.0.0.1"], 2: [27]}
    assert decode(o[23][0]) == {1: [b"/a"], 2: [b"/b"]}
    assert decode(o[27][0]) == {1: [b"extRootNetNS"], 2: [5]}
    assert o[34] == [3] and o[38] == [0x40000000]


def test_default_images_dir_fd_is_minus_one_as_a_ten_byte_varint():
    raw = CriuReq(ReqType.VERSION, CriuOpts()).encode()
    assert decode(decode(raw)[2][0])[1] == [2**64 - 1]


def test_response_decoding():
    notify = Message().string(1, "post-restore").varint(2, 1234)
    raw = (Message().varint(1, ReqType.NOTIFY).varint(2, True).message(5, notify)
           .varint(7, -1).string(9, "oops").encode())
    resp = decode_resp(raw)
    assert resp.type == ReqType.NOTIFY and resp.success
    assert (resp.notify_script, resp.notify_pid) == ("post-restore", 1234)
    assert resp.cr_errno == -1 and resp.cr_errmsg == "oops"
    restored = decode_resp(Message().varint(1, 2).varint(2, 1)
                           .message(4, Message().varint(1, 99)).encode())
    assert restored.restore_pid == 99


needs_criu = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("criu"),
                                reason="needs root and criu")


@needs_criu
def test_swrk_version_and_features():
    c = Criu()
    major, minor, _sub = c.version()
    assert (major, minor) >= (3, 0)
    assert c.version_number() >= 30000
    assert "lazy_pages" in c.features(lazy_pages=True)


@needs_criu
def test_swrk_failure_is_a_criu_error(tmp_path):
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        req = CriuReq(ReqType.RESTORE, CriuOpts(images_dir_fd=fd, log_file="restore.log",
                                                log_level=4))
        with pytest.raises(CriuError):
            Criu().swrk(req, log_path=tmp_path / "restore.log")
    finally:
        os.close(fd)

"""The Engine API's shared pieces, without a socket: Docker's stream framing, the
`filters` argument in both of its JSON forms, form values and error statuses."""

from __future__ import annotations

import pytest

from pyd_dockerd.engineapi.httputils import form, stdcopy
from pyd_dockerd.engineapi.httputils.errors import BadParameter, status_for
from pyd_proto.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound


def test_stdcopy_frames_split_back_into_their_streams() -> None:
    big = bytes(range(256)) * 200  # 51200 bytes: two frames of at most 32 KiB
    wire = stdcopy.frame(stdcopy.STDOUT, b"out\n") + stdcopy.frame(stdcopy.STDERR, big)
    assert wire[:8] == b"\x01\x00\x00\x00\x00\x00\x00\x04"
    frames, rest = stdcopy.split(wire + b"\x02\x00\x00")
    assert rest == b"\x02\x00\x00"
    assert frames[0] == (stdcopy.STDOUT, b"out\n")
    assert [len(d) for _, d in frames[1:]] == [32768, 51200 - 32768]
    assert b"".join(d for s, d in frames if s == stdcopy.STDERR) == big


def test_filters_take_both_json_forms_and_refuse_garbage() -> None:
    assert form.filters({"filters": '{"name": {"web": true, "db": false}}'}) == {
        "name": ["web"]}
    assert form.filters({"filters": '{"status": ["exited", "created"]}'}) == {
        "status": ["exited", "created"]}
    assert form.filters({}) == {}
    for bad in ("{nope", "[1]", '{"name": 3}'):
        with pytest.raises(BadParameter):
            form.filters({"filters": bad})


def test_form_values_read_as_moby_reads_them() -> None:
    q = {"a": "1", "b": "False", "c": "", "d": "none", "e": "yes", "n": "12", "x": "z"}
    assert [form.bool_value(q, k) for k in "abcdef"] == [True, False, False, False, True,
                                                         False]
    assert form.int_value(q, "n") == 12 and form.int_value(q, "missing", 7) == 7
    with pytest.raises(BadParameter):
        form.int_value(q, "x")
    assert form.version_at_least("1.47", "1.42") and not form.version_at_least("1.41",
                                                                               "1.42")


def test_errors_map_to_dockers_status_codes() -> None:
    assert status_for(NotFound("x")) == 404
    assert status_for(InvalidArgument("x")) == 400
    assert status_for(BadParameter("x")) == 400
    assert status_for(AlreadyExists("x")) == 409
    assert status_for(FailedPrecondition("x")) == 409
    assert status_for(RuntimeError("x")) == 500

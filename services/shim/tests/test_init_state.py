"""The init process's state machine (containerd's init_state.go) with a recording runtime."""

from __future__ import annotations

import pytest

from pyd_proto.errdefs import FailedPrecondition, NotFound
from pyd_shim.process.init import CheckpointOptions, Init
from pyd_shim.process.io import ProcessIO


class FakeRuntime:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str):
        def record(*args, **kwargs):
            self.calls.append(name)
        return record


def make(checkpoint: str = "") -> tuple[Init, FakeRuntime]:
    rt = FakeRuntime()
    p = Init("c1", "/nonexistent", rt, ProcessIO("", "", "", False),  # type: ignore[arg-type]
             checkpoint=checkpoint, lazy_restore="10.0.0.2:27000" if checkpoint else "")
    return p, rt


def test_created_running_paused_stopped_deleted():
    p, rt = make()
    assert p.status == "created"
    with pytest.raises(FailedPrecondition):
        p.pause()
    p.start()
    assert p.status == "running"
    with pytest.raises(FailedPrecondition, match="cannot start a running"):
        p.start()
    with pytest.raises(FailedPrecondition, match="cannot delete a running"):
        p.delete()
    p.pause()
    assert p.status == "paused"
    with pytest.raises(FailedPrecondition):
        p.can_exec()
    p.checkpoint(CheckpointOptions("/tmp/x", leave_running=True))
    p.resume()
    assert p.status == "running"
    p.kill(15)
    p.set_exited(143)
    assert p.status == "stopped" and p.exit is not None and p.exit.status == 143
    assert p.wait(0).status == 143  # type: ignore[union-attr]
    with pytest.raises(NotFound, match="already finished"):
        p.kill(9)
    with pytest.raises(FailedPrecondition):
        p.resume()
    p.delete()
    assert p.status == "deleted"
    with pytest.raises(NotFound):
        p.delete()
    assert rt.calls == ["start", "pause", "checkpoint", "resume", "kill", "delete"]


def test_paused_process_that_exits_is_thawed_and_stopped():
    p, rt = make()
    p.start()
    p.pause()
    p.set_exited(137)
    assert p.status == "stopped"
    assert rt.calls[-1] == "resume"


def test_created_can_be_deleted_without_starting():
    p, rt = make()
    p.delete()
    assert p.status == "deleted" and rt.calls == ["delete"]


def test_created_from_checkpoint_restores_on_start(monkeypatch):
    p, _rt = make(checkpoint="/ckpt")
    restored: list[str] = []
    monkeypatch.setattr(p, "restore", lambda: restored.append(p.lazy_restore))
    with pytest.raises(FailedPrecondition):
        p.kill(9)
    p.start()
    assert p.status == "running" and restored == ["10.0.0.2:27000"]

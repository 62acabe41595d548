"""dockerd SIGKILLed in the middle of `pyd checkpoint create` and of
`pyd start --checkpoint` (issue 6): once it is back, the container is either
checkpointed / restored or cleanly not, and no half-written checkpoint is listed (the
restarted dockerd removes partial directories). A container holding 128 MiB makes the
dump and the restore last long enough to be cut."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests import hostcleanup
from tests.stack import Stack, binary
from tests.test_lazy_restore import counter, counter_image, wait_until

MIB = "128"


def _runtime_pid(cid: str, command: str, timeout: float = 60.0) -> int | None:
    """The `pyd-runc ... <command> ... <cid>` process, as soon as it exists."""
    deadline = time.monotonic() + timeout
    while True:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                argv = hostcleanup._cmdline(int(entry)).split()
                if "pyd-runc" in " ".join(argv[:2]) and command in argv and cid in argv:
                    return int(entry)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.005)


def _cli_async(s: Stack, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([binary("pyd"), *args], env={**os.environ, "PYD_HOST": s.host},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _state(s: Stack, name: str) -> dict[str, object]:
    out = s.cli("inspect", name)
    assert out.returncode == 0, out.stderr
    state: dict[str, object] = json.loads(out.stdout)[0]["State"]
    return state


def _checkpoints(s: Stack, name: str) -> list[str]:
    out = s.cli("checkpoint", "ls", name, "--format", "{{.Name}}")
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def _partials(s: Stack, cid: str) -> list[str]:
    d = s.root / "containers" / cid / "checkpoints"
    return [e for e in os.listdir(d) if e.startswith(".")] if d.is_dir() else []


def _task_processes(s: Stack, cid: str) -> set[int]:
    return hostcleanup.pids_in_cgroups(f"{s.cgroup_parent}/{cid}")


def _counter_container(s: Stack, tmp: Path) -> str:
    counter_image(tmp / "counter.tar")
    assert s.cli("load", "-i", str(tmp / "counter.tar")).returncode == 0
    assert s.cli("run", "-d", "--name", "ctr", "--network", "none", "counter",
                 "/counter-bin", MIB).returncode == 0
    assert wait_until(lambda: s.cli("exec", "ctr", "cat", "/counter").stdout.strip() != ""
                      and counter(s, "ctr")[0] > 3)
    return str(json.loads(s.cli("inspect", "ctr").stdout)[0]["Id"])


def _restores_and_counts(s: Stack, from_value: int) -> None:
    restored = s.cli("start", "--checkpoint", "cp1", "ctr")
    assert restored.returncode == 0, restored.stderr
    value, ok = counter(s, "ctr")
    assert ok == "ok" and value >= from_value
    assert wait_until(lambda: counter(s, "ctr")[0] > value)


def test_dockerd_killed_during_checkpoint_create(stack: Stack, tmp_path: Path) -> None:
    cid = _counter_container(stack, tmp_path)
    before = counter(stack, "ctr")[0]
    cli = _cli_async(stack, "checkpoint", "create", "ctr", "cp1")
    try:
        assert _runtime_pid(cid, "checkpoint") is not None, "the dump never started"
        stack.stop(signal.SIGKILL)
        assert cli.wait(60) != 0
    finally:
        cli.kill()
        cli.wait()
    stack.start()
    # The shim finishes the dump alone (or fails it); dockerd then records what is.
    assert wait_until(lambda: _runtime_pid(cid, "checkpoint", timeout=0) is None, 60.0)
    assert wait_until(lambda: (_state(stack, "ctr")["Running"] is False)
                      == (not _task_processes(stack, cid)), 30.0)
    assert wait_until(lambda: not _partials(stack, cid), 30.0), _partials(stack, cid)
    listed = _checkpoints(stack, "ctr")
    assert listed in ([], ["cp1"])
    print(f"checkpoint create cut: listed {listed}, running {_state(stack, 'ctr')['Running']}")
    if listed == ["cp1"]:  # checkpointed: complete and restorable
        assert wait_until(lambda: _state(stack, "ctr")["Running"] is False, 30.0)
        _restores_and_counts(stack, before)
        return
    # Cleanly not: no checkpoint, the name is free, and the container either still
    # runs or has stopped with nothing left of its task.
    if _state(stack, "ctr")["Running"] is False:
        assert wait_until(lambda: not _task_processes(stack, cid), 10.0)
        assert stack.cli("start", "ctr").returncode == 0
    again = stack.cli("checkpoint", "create", "ctr", "cp1")
    assert again.returncode == 0, again.stderr
    _restores_and_counts(stack, 0)


def test_dockerd_killed_during_start_from_checkpoint(stack: Stack, tmp_path: Path) -> None:
    cid = _counter_container(stack, tmp_path)
    created = stack.cli("checkpoint", "create", "ctr", "cp1")
    assert created.returncode == 0, created.stderr
    assert wait_until(lambda: _state(stack, "ctr")["Running"] is False)
    cli = _cli_async(stack, "start", "--checkpoint", "cp1", "ctr")
    try:
        assert _runtime_pid(cid, "restore") is not None, "the restore never started"
        stack.stop(signal.SIGKILL)
        assert cli.wait(60) != 0
    finally:
        cli.kill()
        cli.wait()
    stack.start()
    assert _checkpoints(stack, "ctr") == ["cp1"]
    assert not _partials(stack, cid)
    state = _state(stack, "ctr")
    print(f"restore cut: running {state['Running']}")
    if state["Running"] is True:  # restored, and dockerd knew before the kill
        value = counter(stack, "ctr")[0]
        assert wait_until(lambda: counter(stack, "ctr")[0] > value)
        return
    # Cleanly not restored: the task the shim finished alone is gone with its
    # processes, and the checkpoint restores on the next try.
    assert wait_until(lambda: not _task_processes(stack, cid), 10.0), _task_processes(
        stack, cid)
    assert _runtime_pid(cid, "restore", timeout=0) is None
    _restores_and_counts(stack, 0)

"""Local checkpoints through the CLI: create, ls, rm, start --checkpoint (issue 6)."""

from __future__ import annotations

import json
import time

from tests.stack import Stack

COUNTER = "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.1; done"


def read_count(s: Stack, name: str) -> int:
    """The counter; `echo $i > /tmp/n` truncates before it writes, so an empty read is
    retried."""
    for _ in range(50):
        out = s.cli("exec", name, "cat", "/tmp/n")
        assert out.returncode == 0, out.stderr
        if out.stdout.strip():
            return int(out.stdout)
        time.sleep(0.05)
    raise AssertionError(f"no count from {name}")


def test_checkpoint_then_start_keeps_memory_state(stack: Stack) -> None:
    assert stack.cli("run", "-d", "--name", "ctr", "busybox", "sh", "-c", COUNTER
                     ).returncode == 0
    time.sleep(1.0)
    before = read_count(stack, "ctr")
    created = stack.cli("checkpoint", "create", "ctr", "cp1")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "cp1"
    assert json.loads(stack.cli("inspect", "ctr").stdout)[0]["State"]["Running"] is False
    ls = stack.cli("checkpoint", "ls", "ctr")
    assert ls.stdout.split() == ["CHECKPOINT", "NAME", "cp1"]
    restored = stack.cli("start", "--checkpoint", "cp1", "ctr")
    assert restored.returncode == 0, restored.stderr
    after = read_count(stack, "ctr")
    assert after >= before  # the shell's variable came back: it counts on, not from 1
    time.sleep(0.5)
    assert read_count(stack, "ctr") > after


def test_checkpoint_errors_are_docker_shaped(stack: Stack) -> None:
    assert stack.cli("run", "-d", "--name", "live", "busybox", "sleep", "300").returncode == 0
    # Post-copy from the frozen process is refused at once, not left waiting (CRIU's
    # page server fails on this kernel), and the container runs on.
    lazy = stack.cli("checkpoint", "create", "--lazy", "live", "post", timeout=30)
    assert lazy.returncode != 0 and "--lazy" in lazy.stderr and "not available" in lazy.stderr
    assert stack.cli("checkpoint", "ls", "live").stdout.split() == ["CHECKPOINT", "NAME"]
    assert stack.cli("checkpoint", "create", "--leave-running", "live", "keep").returncode == 0
    again = stack.cli("checkpoint", "create", "--leave-running", "live", "keep")
    assert again.returncode != 0 and "already exists" in again.stderr
    into_running = stack.cli("start", "--checkpoint", "keep", "live")
    assert into_running.returncode == 125
    assert "running" in into_running.stderr
    assert stack.cli("stop", "-t", "1", "live").returncode == 0
    unknown = stack.cli("start", "--checkpoint", "nope", "live")
    assert unknown.returncode == 125
    assert "does not exist" in unknown.stderr
    assert stack.cli("checkpoint", "rm", "live", "keep").returncode == 0
    assert stack.cli("checkpoint", "ls", "live").stdout.split() == ["CHECKPOINT", "NAME"]

"""SIGKILL of each daemon in turn — dockerd, containerd, a container's shim — at seeded
random moments while a client creates, starts, stops and removes containers in a loop.

Afterwards every container the client was told exists is listed in the state it was
told, every one it removed is gone, an operation a kill interrupted left the container
either before or after it (never half-way), and once everything is removed no shim,
mount, veth, IP lease, cgroup, runtime state, bundle, netns file or snapshot remains
beyond what the stack held before. The seed is printed (and honoured from
PYD_FAULT_SEED) so a failure can be replayed; bench/reliability.py runs it longer.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.reliability.workload import run_under_faults
from tests.stack import Stack

pytestmark = [pytest.mark.root, pytest.mark.e2e]

SECONDS = float(os.environ.get("PYD_FAULT_SECONDS", "35"))


def test_sigkill_of_each_daemon_in_turn_loses_nothing_and_leaks_nothing(stack: Stack) -> None:
    seed = int(os.environ.get("PYD_FAULT_SEED") or time.time_ns() % 1_000_000)
    print(f"fault seed {seed} (replay with PYD_FAULT_SEED={seed})")
    run = run_under_faults(stack, seed, SECONDS)
    print(f"operations confirmed {run.ok}, interrupted {run.failed}; faults {run.faults}; "
          f"before {run.before}; after {run.after}")
    print("\n".join(run.injections))
    where = f"(seed {seed}; dockerd log {stack.log_path})"
    if run.problems or run.leaks:
        print("\n".join(["problems:", *run.problems, "evidence:", *run.evidence]))
    assert run.problems == [], (where, "\n".join(run.problems + run.evidence))
    assert run.leaks == {}, (where, "\n".join(run.evidence))
    # Each daemon was really killed at least once while the workload ran.
    assert all(n >= 1 for n in run.faults.values()), (run.faults, where)
    assert run.ok >= 20, (run.ok, where)

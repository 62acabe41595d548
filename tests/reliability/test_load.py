"""Load: containers created and started by 10 concurrent clients while `pyd ps` is
timed; the daemons stay responsive (`pyd ps` under 1 s at the 99th percentile), every
container ends running, and all of them are removed with nothing left behind.

The clients are gRPC clients (tests/reliability/loadclient.py), as ten Docker SDK
users would be; `pyd ps` is the CLI, timed from fork to exit as a user sees it. CI runs
PYD_LOAD_CONTAINERS (default 40) on its 2 cores; bench/reliability.py runs the full
100, and also with a `pyd` process per operation as the clients.
"""

from __future__ import annotations

import os

import pytest

from tests.reliability.load import run_load
from tests.stack import Stack

pytestmark = [pytest.mark.root, pytest.mark.e2e]

CONTAINERS = int(os.environ.get("PYD_LOAD_CONTAINERS", "40"))
VIA = os.environ.get("PYD_LOAD_VIA", "api")


def test_concurrent_clients_start_containers_and_ps_stays_fast(stack: Stack) -> None:
    run = run_load(stack, containers=CONTAINERS, clients=10, via=VIA)
    print(f"{run.containers} containers by {run.clients} {run.via} clients: started in "
          f"{run.start_seconds:.1f} s, removed in {run.remove_seconds:.1f} s; pyd ps "
          f"p50 {run.p50 * 1000:.0f} ms, p99 {run.p99 * 1000:.0f} ms, max "
          f"{max(run.ps_samples) * 1000:.0f} ms over {len(run.ps_samples)} samples; "
          f"CLI aborts {run.cli_aborts}")
    assert run.errors == []
    assert run.wrong_state == {}
    assert run.ps_failures == []
    assert len(run.ps_samples) >= 5
    assert run.p99 < 1.0, sorted(run.ps_samples)[-5:]
    assert run.leaks == {}

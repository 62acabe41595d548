"""Faults and load (issue 7), the long versions of tests/reliability:

- faults.*   a client creates, starts, stops and removes containers for
             PYD_BENCH_FAULT_SECONDS (default 120) while dockerd, containerd and a
             container's shim are SIGKILLed in turn at seeded random moments
             (PYD_BENCH_FAULT_SEED, printed): operations confirmed, operations a
             kill interrupted, faults injected, problems (a container not in the
             state the client was told, or left half-way), leaks after removing
             everything (shims, mounts, veths, IP leases, cgroups, state files);
- load.*     100 containers (PYD_BENCH_LOAD_CONTAINERS) created and started by
             10 concurrent gRPC clients, `pyd ps` timed throughout (p50, p99; the
             target is 1 s), then removed by the same clients; how many ended in
             the wrong state and what leaked;
- load_cli.* the same with a `pyd run -d` / `pyd rm -f` process per operation as
             the clients (each a Python interpreter importing grpc, competing for
             the 2 cores with `pyd ps`); and, for both and for the fault run, how
             many CLI runs grpc's poller aborted (SIGABRT) and were retried.

Counts have no reference; the reference column holds the target where there is one.
"""

from __future__ import annotations

import os
import time
from typing import Any

from tests.reliability.load import run_load
from tests.reliability.workload import run_under_faults
from tests.stack import private_stack

REFERENCE = "target"


def run(repeat: int) -> list[tuple[Any, ...]]:
    seconds = float(os.environ.get("PYD_BENCH_FAULT_SECONDS", "120"))
    seed = int(os.environ.get("PYD_BENCH_FAULT_SEED") or time.time_ns() % 1_000_000)
    containers = int(os.environ.get("PYD_BENCH_LOAD_CONTAINERS", "100"))
    print(f"reliability: fault seed {seed}, {seconds:.0f} s of operations", flush=True)
    with private_stack("benchfault") as s:
        f = run_under_faults(s, seed, seconds)
    for line in f.problems:
        print(f"  problem: {line}", flush=True)
    for kind, items in f.leaks.items():
        print(f"  leaked {kind}: {items}", flush=True)
    with private_stack("benchload") as s:
        load = run_load(s, containers=containers, clients=10, via="api")
    with private_stack("benchloadcli") as s:
        by_cli = run_load(s, containers=containers, clients=10, via="cli")
    for run_ in (load, by_cli):
        for line in run_.errors + [f"{n}: {st}" for n, st in run_.wrong_state.items()]:
            print(f"  load ({run_.via}) problem: {line}", flush=True)
        for line in run_.aborted:
            print(f"  load ({run_.via}) CLI aborted: {line}", flush=True)
    leaked = sum(len(v) for v in f.leaks.values())
    load_leaked = sum(len(v) for v in load.leaks.values())
    return [
        ("faults.ops_confirmed", f.ok, 0, f"operations confirmed in {seconds:.0f} s", ""),
        ("faults.ops_interrupted", f.failed, 0, "operations a kill interrupted", ""),
        ("faults.injected", sum(f.faults.values()), 0,
         "SIGKILLs: " + ", ".join(f"{k} {v}" for k, v in f.faults.items()), ""),
        ("faults.problems", len(f.problems), 0, "target 0", ""),
        ("faults.leaks", leaked, 0, "target 0", ""),
        ("load.start", load.start_seconds, 0,
         f"{containers} containers, 10 gRPC clients, create + start"),
        ("load.ps_p50", load.p50, 1.0, f"target; {len(load.ps_samples)} samples"),
        ("load.ps_p99", load.p99, 1.0, "target"),
        ("load.wrong_state", len(load.wrong_state) + len(load.errors), 0, "target 0", ""),
        ("load.leaks", load_leaked, 0, "target 0", ""),
        ("load.cli_aborts", load.cli_aborts, 0, "pyd runs aborted by grpc's poller", ""),
        ("load_cli.start", by_cli.start_seconds, 0,
         f"{containers} containers, 10 clients, a pyd run -d process each"),
        ("load_cli.ps_p50", by_cli.p50, 1.0, f"target; {len(by_cli.ps_samples)} samples"),
        ("load_cli.ps_p99", by_cli.p99, 1.0, "target"),
        ("load_cli.wrong_state", len(by_cli.wrong_state) + len(by_cli.errors), 0,
         "target 0", ""),
        ("load_cli.leaks", sum(len(v) for v in by_cli.leaks.values()), 0, "target 0", ""),
        ("load_cli.cli_aborts", by_cli.cli_aborts, 0, "pyd runs aborted by grpc's poller",
         ""),
        ("faults.cli_aborts", f.cli_aborts, 0, "pyd runs aborted by grpc's poller", ""),
    ]

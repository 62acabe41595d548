"""Load: many containers created and started by concurrent clients while `pyd ps` is
timed over and over, then removed the same way (used by test_load.py and
bench/reliability.py). Every client is a `pyd` process, as a user's would be."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability import leaks
from tests.stack import Stack, binary

SIGABRT = -6
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Cli:
    """Runs `pyd` against a stack, counting the runs grpc's poller aborted (retried, as
    tests/stack.py does, so the load is judged on pyd's answers)."""

    stack: Stack
    aborts: int = 0
    aborted: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYD_HOST": self.stack.host}
        for _ in range(5):
            out = subprocess.run([binary("pyd"), *args], capture_output=True, text=True,
                                 env=env, timeout=timeout, stdin=subprocess.DEVNULL)
            if out.returncode != SIGABRT:
                return out
            with self.lock:
                self.aborts += 1
                self.aborted.append(f"{' '.join(args)}: {out.stderr.strip()[-200:]}")
        return out


@dataclass
class LoadRun:
    containers: int
    clients: int
    via: str
    start_seconds: float
    remove_seconds: float
    ps_samples: list[float]
    ps_failures: list[str]
    wrong_state: dict[str, str]
    errors: list[str]
    leaks: dict[str, list[str]]
    cli_aborts: int
    aborted: list[str]

    @property
    def p50(self) -> float:
        return statistics.median(self.ps_samples)

    @property
    def p99(self) -> float:
        s = sorted(self.ps_samples)
        return s[min(len(s) - 1, round(0.99 * (len(s) - 1)))]


def run_load(stack: Stack, containers: int = 100, clients: int = 10,
             network: str = "bridge", via: str = "api") -> LoadRun:
    """Start `containers` containers from `clients` concurrent clients, sampling `pyd ps`
    latency meanwhile; check them all running; remove them the same way; count leaks.

    `via` "api": the clients are gRPC clients (loadclient.py), as SDK users would be;
    "cli": each operation is a `pyd run -d` / `pyd rm -f` process, whose own start-up
    (a Python interpreter importing grpc) then competes for the CPU too."""
    cli = Cli(stack)
    warm = cli("run", "--rm", "--network", network, "busybox", "true")
    assert warm.returncode == 0, warm.stderr
    before = leaks.snapshot(stack)
    names = [f"load{i:03d}" for i in range(containers)]
    errors: list[str] = []
    samples: list[float] = []
    ps_failures: list[str] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            t = time.perf_counter()
            out = cli("ps")
            samples.append(time.perf_counter() - t)
            if out.returncode != 0:
                ps_failures.append(out.stderr.strip())

    def start(name: str) -> None:
        out = cli("run", "-d", "--name", name, "--network", network, "busybox",
                  "sleep", "3600")
        if out.returncode != 0:
            errors.append(f"run {name}: {out.returncode} {out.stderr.strip()}")

    def remove(name: str) -> None:
        out = cli("rm", "-f", name)
        if out.returncode != 0:
            errors.append(f"rm {name}: {out.returncode} {out.stderr.strip()}")

    def each(mode: str) -> None:
        if via == "cli":
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(start if mode == "run" else remove, names))
            return
        out = subprocess.run([sys.executable, "-m", "tests.reliability.loadclient",
                              stack.host, mode, str(clients), network, *names],
                             capture_output=True, text=True, timeout=1800, cwd=REPO,
                             stdin=subprocess.DEVNULL)
        if out.returncode != 0:
            errors.append(f"loadclient {mode}: {out.returncode} {out.stderr[-2000:]}")
            return
        results = json.loads(out.stdout.strip().splitlines()[-1])
        errors.extend(f"{mode} {n}: {e}" for n, e in sorted(results.items()) if e)

    sampler = threading.Thread(target=sample, name="ps-sampler", daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    each("run")
    start_seconds = time.perf_counter() - t0

    listed = cli("ps", "-a", "--format", "{{.Names}} {{.State}}")
    assert listed.returncode == 0, listed.stderr
    states = dict(line.split() for line in listed.stdout.splitlines() if line.strip())
    wrong = {n: states.get(n, "missing") for n in names if states.get(n) != "running"}

    t0 = time.perf_counter()
    each("rm")
    remove_seconds = time.perf_counter() - t0
    done.set()  # `pyd ps` is timed while containers start and while they are removed
    sampler.join(300)
    left = cli("ps", "-a", "-q")
    if left.stdout.strip():
        errors.append(f"still listed after rm: {left.stdout.split()}")
    deadline = time.monotonic() + 60
    while True:
        leaked = leaks.leaks(before, leaks.snapshot(stack))
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return LoadRun(containers=containers, clients=clients, via=via, start_seconds=start_seconds,
                   remove_seconds=remove_seconds, ps_samples=samples,
                   ps_failures=ps_failures, wrong_state=wrong, errors=errors, leaks=leaked,
                   cli_aborts=cli.aborts, aborted=cli.aborted)

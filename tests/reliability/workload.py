"""A container workload that keeps its own account of what the engine told it, and a
fault injector that SIGKILLs the daemons under it (used by the tests and by
bench/reliability.py).

The workload creates, starts, stops and removes containers through the `pyd` CLI. An
operation that succeeds updates the model; one that fails while a daemon is down is
*uncertain*: once the engine answers again the workload inspects the container and
requires it to be in the state before or after the operation (never half-way), then
takes that as the truth. `verify` compares the model with `pyd ps -a`.
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability.load import Cli
from tests.stack import Stack, binary

GONE = "gone"
# How long after the engine answers again an operation may still fail because of a
# kill (a call cut off, events still catching up).
FAULT_GRACE = 5.0


@dataclass
class Tally:
    ok: int = 0                 # operations the engine confirmed
    failed: int = 0             # operations that failed under a fault (then reconciled)
    faults: dict[str, int] = field(default_factory=lambda: {"dockerd": 0, "containerd": 0,
                                                            "shim": 0})
    problems: list[str] = field(default_factory=list)


class Workload:
    """One client's loop of create/start/stop/rm, with its model of the engine."""

    def __init__(self, stack: Stack, rng: random.Random, prefix: str = "w",
                 max_live: int = 6, network: str = "bridge") -> None:
        self.stack = stack
        self.rng = rng
        self.prefix = prefix
        self.max_live = max_live
        self.network = network
        self.model: dict[str, str] = {}     # name -> created | running | exited | dead
        self.ids: dict[str, str] = {}
        self.removed: set[str] = set()
        self.inflight: str | None = None
        self.lock = threading.Lock()
        self.cli = Cli(stack)  # counts the runs grpc's poller aborted
        self.tally = Tally()
        # [kill, recovered] monotonic times of the injector's faults (recovered is inf
        # until the engine answers again)
        self.fault_times: list[list[float]] = []
        self._n = 0

    # -- the engine, through the CLI ------------------------------------------------

    def _cli(self, *args: str) -> tuple[int, str, str]:
        out = self.cli(*args, timeout=120)
        return out.returncode, out.stdout, out.stderr

    def wait_engine(self, timeout: float = 90.0) -> None:
        wait_engine(self.stack, timeout)

    def actual_state(self, name: str) -> str:
        """The container's state as `inspect` says (GONE when there is none)."""
        deadline = time.monotonic() + 180
        while True:
            self.wait_engine()
            code, out, err = self._cli("inspect", "--format", "{{.State.Status}}", name)
            if code == 0:
                return out.strip()
            if "No such object" in err:
                return GONE
            if time.monotonic() > deadline:
                raise TimeoutError(f"inspect {name} keeps failing: {err.strip()}")
            time.sleep(0.2)  # the engine went away again between ping and inspect

    # -- one step -------------------------------------------------------------------

    def step(self) -> None:
        live = {n: s for n, s in self.model.items()}
        # Weighted so that a few containers run most of the time (the shim kills need
        # one) while every operation keeps coming up.
        choices: list[tuple[str, str]] = []
        if len(live) < self.max_live:
            self._n += 1
            choices += [("create", f"{self.prefix}{self._n}")] * 3
        for name, state in live.items():
            if state == "dead":
                choices.append(("rm", name))
            elif state in ("created", "exited"):
                choices += [("start", name)] * 3 + [("rm", name)]
            elif state == "running":
                choices += [("stop", name), ("rm", name)]
        op, name = self.rng.choice(choices)
        with self.lock:
            if op != "create" and name not in self.model:
                return  # the injector changed it meanwhile (not possible for rm/create)
            self.inflight = name
        try:
            self._do(op, name)
        finally:
            with self.lock:
                self.inflight = None

    def _do(self, op: str, name: str) -> None:
        before = self.model.get(name, GONE)
        if op == "create":
            argv = ["create", "--name", name, "--network", self.network, "busybox",
                    "sleep", "3600"]
            after = "created"
        elif op == "start":
            argv, after = ["start", name], "running"
        elif op == "stop":
            argv, after = ["stop", "-t", "0", name], "exited"
        else:
            argv, after = ["rm", "-f", name], GONE
        began = time.monotonic()
        code, out, err = self._cli(*argv)
        ended = time.monotonic()
        if code == 0:
            self.tally.ok += 1
            if op == "create":
                self.ids[name] = out.strip()
            self._set(name, after)
            return
        # Failed: only a fault excuses that, and the state must be before or after.
        self.tally.failed += 1
        if not any(began <= up + FAULT_GRACE and ended >= kill
                   for kill, up in self.fault_times):
            self.tally.problems.append(f"{op} {name}: failed with no fault within "
                                       f"{FAULT_GRACE:.0f} s ({code}: {err.strip()[-300:]})")
        state = self.actual_state(name)
        with self.lock:
            before = self.model.get(name, before)  # a shim kill may have moved it
        allowed = {before, after}  # an operation a fault interrupted is all or nothing
        if op == "rm":
            # `rm -f` kills first, then removes; moby's restore marks an interrupted
            # removal dead.
            allowed |= {"exited", "dead"} if before == "running" else {"dead"}
        if state not in allowed:
            self.tally.problems.append(f"{op} {name}: failed ({code}: {err.strip()[-300:]}) "
                                       f"and left {state!r}, not one of {sorted(allowed)}")
        if state != GONE and name not in self.ids:
            _, out, _ = self._cli("inspect", "--format", "{{.Id}}", name)
            self.ids[name] = out.strip()
        self._set(name, state)

    def _set(self, name: str, state: str) -> None:
        with self.lock:
            if state == GONE:
                self.model.pop(name, None)
                self.removed.add(name)
            else:
                self.model[name] = state
                self.removed.discard(name)

    # -- what the injector may touch ------------------------------------------------

    def pick_running(self, rng: random.Random) -> tuple[str, str] | None:
        """A running container nobody is operating on (name, id), marked exited: its shim
        is about to be killed. Call with `self.lock` held."""
        names = sorted(n for n, s in self.model.items()
                       if s == "running" and n != self.inflight and n in self.ids)
        if not names:
            return None
        name = rng.choice(names)
        self.model[name] = "exited"
        return name, self.ids[name]

    # -- checks ---------------------------------------------------------------------

    def verify(self) -> list[str]:
        """Differences between the model and `pyd ps -a` (empty when they agree)."""
        self.wait_engine()
        code, out, err = self._cli("ps", "-a", "--no-trunc", "--format",
                                   "{{.Names}} {{.State}}")
        assert code == 0, err
        listed = dict(line.split() for line in out.splitlines() if line.strip())
        mine = {n: s for n, s in listed.items() if n.startswith(self.prefix)}
        problems = []
        for name, state in sorted(self.model.items()):
            if mine.get(name) != state:
                problems.append(f"{name}: model says {state}, engine says "
                                f"{mine.get(name, 'nothing')}")
        for name in sorted(set(mine) - set(self.model)):
            why = "was removed" if name in self.removed else "was never confirmed"
            problems.append(f"{name}: listed ({mine[name]}) but {why}")
        return problems


class Injector(threading.Thread):
    """SIGKILLs dockerd, containerd and a container's shim in turn, at seeded random
    intervals, restarting dockerd itself (dockerd restarts its containerd)."""

    VICTIMS = ("dockerd", "containerd", "shim")

    def __init__(self, stack: Stack, workloads: list[Workload], rng: random.Random,
                 interval: tuple[float, float] = (2.0, 5.0)) -> None:
        super().__init__(name="fault-injector", daemon=True)
        self.stack, self.workloads, self.rng, self.interval = stack, workloads, rng, interval
        self.stop_event = threading.Event()
        self.log: list[str] = []
        self.error: BaseException | None = None
        self.turn = 0

    def run(self) -> None:
        try:
            delay = self.rng.uniform(*self.interval)
            while not self.stop_event.wait(delay):
                victim = self.VICTIMS[self.turn % len(self.VICTIMS)]
                if self.inject(victim):
                    self.turn += 1
                    delay = self.rng.uniform(*self.interval)
                else:
                    delay = 0.5  # nothing to kill yet (no running container): soon again
        except BaseException as e:  # surfaced by the test
            self.error = e

    def inject(self, victim: str) -> bool:
        s = self.stack
        if victim == "dockerd":
            assert s.dockerd is not None
            fault = self._killed(victim, s.dockerd.pid)
            s.dockerd.send_signal(signal.SIGKILL)
            s.dockerd.wait(30)
            time.sleep(self.rng.uniform(0.0, 1.0))  # clients see it down for a while
            start_dockerd(s)                         # adopts the running containerd
            self._recovered(fault)
            return True
        if victim == "containerd":
            cpid = s.containerd_pid()
            if cpid is None or not _alive(cpid):
                return False
            fault = self._killed(victim, cpid)
            os.kill(cpid, signal.SIGKILL)
            _wait_gone(cpid)
            wait_engine(s)  # dockerd restarts it (with backoff)
            self._recovered(fault)
            return True
        for w in self.rng.sample(self.workloads, len(self.workloads)):
            # Under the workload's lock until the engine reports the exit, so the workload
            # never acts on the container while the engine still thinks it runs.
            with w.lock:
                picked = w.pick_running(self.rng)
                if picked is None:
                    self.log.append(f"{time.strftime('%H:%M:%S')} no running container "
                                    f"to kill the shim of: {sorted(w.model.items())}")
                    continue
                name, cid = picked
                pid = shim_pid(s, cid)
                if pid is None:  # its shim is gone already: the container exited itself
                    w.model[name] = "running"
                    self.log.append(f"{time.strftime('%H:%M:%S')} no shim for {name}")
                    continue
                self._recovered(self._killed(f"shim of {name}", pid))
                os.kill(pid, signal.SIGKILL)
                w.tally.faults["shim"] += 1
                deadline = time.monotonic() + 60
                while w.actual_state(name) != "exited":
                    if time.monotonic() > deadline:
                        w.tally.problems.append(f"{name}: shim killed, never reported exited")
                        break
                    time.sleep(0.1)
            return True
        return False

    def _killed(self, what: str, pid: int) -> list[float]:
        """Record a fault just before the kill (a client may see it at once); returns
        its [kill, recovered] times for `_recovered`."""
        fault = [time.monotonic(), math.inf]
        self.log.append(f"{time.strftime('%H:%M:%S')} SIGKILL {what} (pid {pid})")
        for w in self.workloads:
            w.fault_times.append(fault)
        if what in ("dockerd", "containerd"):
            self.workloads[0].tally.faults[what] += 1
        return fault

    def _recovered(self, fault: list[float]) -> None:
        """The engine answers again."""
        fault[1] = time.monotonic()
        self.log[-1] += f", engine back after {fault[1] - fault[0]:.1f} s"


# The harness talks to the engine only through subprocesses (the CLI) while its threads
# run: grpc's fork handlers can deadlock a process that forks from one thread while
# another has just closed a gRPC channel (seen here: the prefork handler waiting on
# grpc's shutdown thread, the GIL held by the forking thread). Hence no Stack.ping here.

def engine_up(stack: Stack) -> bool:
    """dockerd answers a call that needs its containerd too (images live there)."""
    if not stack.socket.exists():
        return False
    out = stack.cli("images", "-q", timeout=30)
    return out.returncode == 0


def wait_engine(stack: Stack, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if engine_up(stack):
            return
        time.sleep(0.1)
    raise TimeoutError("the engine did not come back:\n" + stack.log_path.read_text()[-3000:])


def start_dockerd(stack: Stack, timeout: float = 90.0) -> None:
    """`Stack.start`, waiting through the CLI instead of an in-process gRPC client."""
    argv = [binary("pyd-dockerd"), "--root", str(stack.root), "--state", str(stack.state),
            "--cgroup-parent", stack.cgroup_parent, "--debug"]
    with open(stack.log_path, "ab") as log:
        stack.dockerd = subprocess.Popen(stack.netns_argv(argv), stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.dockerd.poll() is not None:
            raise RuntimeError(f"pyd-dockerd exited {stack.dockerd.returncode}:\n"
                               + stack.log_path.read_text()[-3000:])
        if engine_up(stack):
            return
        time.sleep(0.1)
    raise TimeoutError("pyd-dockerd did not answer:\n" + stack.log_path.read_text()[-3000:])


def shim_pid(stack: Stack, container_id: str) -> int | None:
    path = Path(stack.state, "containerd", "io.containerd.runtime.v2.task", "moby",
                container_id, "shim.pid")
    try:
        pid = int(path.read_text())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.02)


def remove_all(stack: Stack, names: list[str]) -> list[str]:
    """`rm -f` each container; the names whose removal failed."""
    failed = []
    for name in names:
        out = stack.cli("rm", "-f", name, timeout=120)
        if out.returncode != 0 and "No such container" not in out.stderr:
            failed.append(f"{name}: {out.stderr.strip()}")
    return failed


@dataclass
class FaultRun:
    seed: int
    seconds: float
    ok: int
    failed: int
    faults: dict[str, int]
    problems: list[str]
    leaks: dict[str, list[str]]
    before: dict[str, int]
    after: dict[str, int]
    injections: list[str]
    evidence: list[str]
    cli_aborts: int


def run_under_faults(stack: Stack, seed: int, seconds: float, clients: int = 1,
                     interval: tuple[float, float] = (2.0, 5.0)) -> FaultRun:
    """Run `clients` workloads for `seconds` while an injector kills the daemons in turn;
    then check every model against the engine, remove everything and count leaks."""
    from tests.reliability import leaks

    warm = stack.cli("run", "--rm", "busybox", "true", timeout=120)
    assert warm.returncode == 0, warm.stderr
    before = leaks.snapshot(stack)
    workloads = [Workload(stack, random.Random(seed * 1000 + i), prefix=f"f{i}x")
                 for i in range(clients)]
    injector = Injector(stack, workloads, random.Random(seed), interval)
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop(w: Workload) -> None:
        try:
            while not stop.is_set():
                w.step()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=loop, args=(w,), daemon=True) for w in workloads]
    for t in threads:
        t.start()
    injector.start()
    time.sleep(seconds)
    injector.stop_event.set()
    injector.join(180)
    stop.set()
    for t in threads:
        t.join(300)
    if injector.error is not None:
        raise injector.error
    if errors:
        raise errors[0]

    problems = [p for w in workloads for p in w.tally.problems]
    for w in workloads:
        problems += w.verify()
    names = sorted({n for w in workloads for n in w.model})
    problems += remove_all(stack, names)
    deadline = time.monotonic() + 60
    while True:
        after = leaks.snapshot(stack)
        leaked = leaks.leaks(before, after)
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    faults = {k: sum(w.tally.faults[k] for w in workloads) for k in workloads[0].tally.faults}
    evidence = _evidence(stack, workloads, leaked, bool(problems))
    return FaultRun(seed=seed, seconds=seconds, ok=sum(w.tally.ok for w in workloads),
                    failed=sum(w.tally.failed for w in workloads), faults=faults,
                    problems=problems, leaks=leaked, before=leaks.counts(before),
                    after=leaks.counts(after), injections=injector.log, evidence=evidence,
                    cli_aborts=sum(w.cli.aborts for w in workloads))


def _evidence(stack: Stack, workloads: list[Workload], leaked: dict[str, list[str]],
              problems: bool, limit: int = 120) -> list[str]:
    """The daemons' log lines about each container that left something behind, and
    their warnings and errors when something went wrong (the log goes with the stack's
    teardown)."""
    ids = {i for kind in ("bundles", "runtime_state", "netns_files", "container_dirs")
           for i in leaked.get(kind, [])}
    names = {n: i for w in workloads for n, i in w.ids.items() if i in ids}
    out = [f"leaked container {i[:12]} was {n!r}" for n, i in names.items()]
    needles = [i[:12] for i in ids] + [f" {n} " for n in names] + [f"={n} " for n in names]
    if problems:
        needles += ["level=warning", "level=error", "code=UNAVAILABLE", "code=INTERNAL",
                    "code=UNKNOWN", "Traceback"]
    if not needles:
        return out
    with open(stack.log_path, errors="replace") as f:
        for line in f:
            if any(x in line for x in needles):
                out.append(line.rstrip()[:400])
    return out[:limit] + [f"... {len(out) - limit} more"] * (len(out) > limit)

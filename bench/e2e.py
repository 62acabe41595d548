"""End-to-end figures through all five services, against `runc run` of the same
busybox rootfs (no Docker engine runs on this machine, so runc is the reference):

- e2e.run         `pyd run --rm --network none busybox true`
- e2e.run_bridge  `pyd run --rm busybox true` (default bridge network)
- e2e.parallel20  20 `pyd run -d busybox sleep` at once, until all are running;
                  reference: 20 `runc run -d` at once
- cli.ps          `pyd ps` with 20 containers; reference: `runc list` with 20

The stack runs in a private root and network namespace (tests/stack.py).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.runtime_run import RUNC, _remove_cgroup_parent, make_bundle
from tests.stack import private_stack

REFERENCE = "runc run (Debian runc), same busybox rootfs"
PYD = str(Path(sys.executable).parent / "pyd")


def _timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                   check=True)
    return time.perf_counter() - t


def _runc_once(bundle: Path, root: str, name: str, detach: bool = False) -> None:
    argv = [RUNC, "--root", root, "run", *(["-d"] if detach else []), "--bundle",
            str(bundle), name]
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   stdin=subprocess.DEVNULL, check=True)
    if not detach:
        subprocess.run([RUNC, "--root", root, "delete", "-f", name],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def run(repeat: int) -> list[tuple[Any, ...]]:
    cg = f"pyd-bench-e2e-{os.getpid()}"
    base = Path(tempfile.mkdtemp(prefix="pyd-bench-e2e-"))
    root = str(base / "runc")
    try:
        bundle = make_bundle(base, ["true"], cg)
        ref_run = []
        for i in range(repeat + 1):
            t = time.perf_counter()
            _runc_once(bundle, root, f"b{i}")
            ref_run.append(time.perf_counter() - t)
        ref_run = ref_run[1:]

        with private_stack("bench") as s:
            env = {**os.environ, "PYD_HOST": s.host}
            pyd = [PYD]
            _timed([*pyd, "run", "--rm", "--network", "none", "busybox", "true"], env)  # warm
            none = [_timed([*pyd, "run", "--rm", "--network", "none", "busybox", "true"],
                           env) for _ in range(repeat)]
            bridge = [_timed([*pyd, "run", "--rm", "busybox", "true"], env)
                      for _ in range(repeat)]

            def start_one(i: int) -> None:
                subprocess.run([*pyd, "run", "-d", "--network", "none", "--name", f"p{i}",
                                "busybox", "sleep", "600"], env=env, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

            t = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(20) as pool:
                list(pool.map(start_one, range(20)))
            par = time.perf_counter() - t
            ps = [_timed([*pyd, "ps"], env) for _ in range(repeat)]
            subprocess.run([*pyd, "rm", "-f", *[f"p{i}" for i in range(20)]], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)

        sleeper = make_bundle(base / "s", ["sleep", "600"], cg)
        os.symlink("busybox", sleeper / "rootfs" / "bin" / "sleep")
        spec = json.loads((sleeper / "config.json").read_text())
        spec["root"]["path"] = str(sleeper / "rootfs")
        bundles = []
        for i in range(20):  # one cgroup each, as pyd gives each container its own
            b = base / f"s{i}"
            b.mkdir()
            spec["linux"]["cgroupsPath"] = f"/{cg}/s{i}"
            (b / "config.json").write_text(json.dumps(spec))
            bundles.append(b)
        t = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            list(pool.map(lambda i: _runc_once(bundles[i], root, f"s{i}", detach=True),
                          range(20)))
        ref_par = time.perf_counter() - t
        ref_ps = [_timed([RUNC, "--root", root, "list"]) for _ in range(repeat)]
        for i in range(20):
            subprocess.run([RUNC, "--root", root, "delete", "-f", f"s{i}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        med = statistics.median
        return [("e2e.run", med(none), med(ref_run)),
                ("e2e.run_bridge", med(bridge), med(ref_run)),
                ("e2e.parallel20", par, ref_par),
                ("cli.ps", med(ps), med(ref_ps), "runc list, 20 containers")]
    finally:
        for d in Path(root).glob("*") if os.path.isdir(root) else []:
            subprocess.run([RUNC, "--root", root, "delete", "-f", d.name],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        _remove_cgroup_parent(cg)
        shutil.rmtree(base, ignore_errors=True)

"""Lazy restore across two hosts (two stacks, two network namespaces, a veth pair):

- lazy.ttr512     `pyd start --lazy-restore` to running, 512 MiB container (target <= 0.5 s)
- lazy.scaling    the same at 2 GiB against 256 MiB (ratio target <= 1.3)
- restore.full512 `pyd start --checkpoint` (full local restore) of 512 MiB, against
                  `runc restore` of a checkpoint of the same program

The reference of lazy.ttr512 is the full local restore through pyd (restore.full512's).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.stack import Stack, private_stack
from tests.test_lazy_restore import A_IP, PORT, counter_image, link_hosts, wait_until

REFERENCE = "see each line"


def _ready(s: Stack, name: str) -> bool:
    out = s.cli("exec", name, "cat", "/counter")
    return out.returncode == 0 and out.stdout.strip() != ""


def _lazy_once(a: Stack, b: Stack, name: str, mib: int) -> float:
    assert a.cli("run", "-d", "--name", name, "--network", "none", "counter",
                 "/counter-bin", str(mib)).returncode == 0
    assert wait_until(lambda: _ready(a, name), 120)
    assert a.cli("checkpoint", "create", name, "cp").returncode == 0
    assert b.cli("create", "--name", name, "--network", "none", "counter", "/counter-bin",
                 str(mib)).returncode == 0
    t = time.perf_counter()
    out = b.cli("start", "--lazy-restore", f"pyd://{A_IP}:{PORT}/{name}/cp", name)
    took = time.perf_counter() - t
    assert out.returncode == 0, out.stderr
    b.cli("rm", "-f", name)
    a.cli("rm", "-f", name)
    return took


def _full_once(a: Stack, name: str, mib: int) -> float:
    assert a.cli("run", "-d", "--name", name, "--network", "none", "counter",
                 "/counter-bin", str(mib)).returncode == 0
    assert wait_until(lambda: _ready(a, name), 120)
    assert a.cli("checkpoint", "create", name, "cp").returncode == 0
    t = time.perf_counter()
    out = a.cli("start", "--checkpoint", "cp", name)
    took = time.perf_counter() - t
    assert out.returncode == 0, out.stderr
    a.cli("rm", "-f", name)
    return took


def run(repeat: int) -> list[tuple[Any, ...]]:
    n = max(1, min(repeat, 3))  # each sample moves hundreds of MiB
    tmp = Path(tempfile.mkdtemp(prefix="pyd-bench-lazy-"))
    try:
        counter_image(tmp / "counter.tar")
        with private_stack(start=False) as a, private_stack(start=False) as b:
            link_hosts(a, b)
            a.start(30.0, "--checkpoint-listen", f"{A_IP}:{PORT}")
            b.start()
            for s in (a, b):
                assert s.cli("load", "-i", str(tmp / "counter.tar")).returncode == 0
            med = statistics.median
            ttr512 = med([_lazy_once(a, b, f"l512x{i}", 512) for i in range(n)])
            ttr256 = med([_lazy_once(a, b, f"l256x{i}", 256) for i in range(n)])
            ttr2g = med([_lazy_once(a, b, f"l2gx{i}", 2048) for i in range(n)])
            full512 = med([_full_once(a, f"f512x{i}", 512) for i in range(n)])
        ref_runc = _runc_restore512(n)
        return [("lazy.ttr512", ttr512, full512, "pyd start --checkpoint (full, local)"),
                ("lazy.scaling", ttr2g, ttr256, "the same lazy restore at 256 MiB"),
                ("restore.full512", full512, ref_runc, "runc restore, same program")]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _runc_restore512(n: int) -> float:
    """`runc restore` of a 512 MiB counter (bench/restore512.py's reference)."""
    from bench import restore512

    rows = restore512.run(n)
    for row in rows:
        if row[0] == "runtime.restore512":
            return float(row[2])
    raise RuntimeError("restore512 gave no runc figure")

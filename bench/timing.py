"""Shared timing helpers for benchmarks."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable, Sequence


def median_of(fn: Callable[[], object], repeat: int, warmup: int = 1) -> float:
    """Median wall time of `fn()` in seconds over `repeat` runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def command(argv: Sequence[str], env: dict[str, str] | None = None,
            check: bool = True) -> Callable[[], object]:
    """A callable that runs `argv` to completion, output discarded."""
    def go() -> object:
        return subprocess.run(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=env, check=check)
    return go

"""Runs every benchmark in bench/ and prints one line per figure:
name, pyd's median, the reference's median measured in the same run, the ratio.

    .venv/bin/python -m bench.run [--repeat N] [--only NAME ...]

A benchmark is any bench/*.py module with `run(repeat: int)` returning
(name, pyd_seconds, reference_seconds[, reference_label[, unit]]) tuples.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback
from pathlib import Path
from typing import Any


def discover() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)])
                  if m.name not in ("run", "timing") and not m.name.startswith("_"))


def fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 10 else f"{value:.2f} s"
    if unit == "MiB":
        return f"{value:.2f} MiB"
    return f"{value:g} {unit}".rstrip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeat", type=int, default=10, help="runs per figure (median taken)")
    ap.add_argument("--only", nargs="*", default=[], help="module names to run")
    args = ap.parse_args(argv)
    failed = 0
    print(f"{'figure':<22} {'pyd':>12} {'reference':>12} {'ratio':>7}  reference is")
    for name in discover():
        if args.only and name not in args.only:
            continue
        module = importlib.import_module(f"bench.{name}")
        fn: Any = getattr(module, "run", None)
        if fn is None:
            continue
        try:
            rows = fn(args.repeat)
        except Exception:
            failed += 1
            print(f"{name:<22} FAILED", flush=True)
            traceback.print_exc()
            continue
        for row in rows:
            figure, pyd, ref = row[0], float(row[1]), float(row[2])
            label = row[3] if len(row) > 3 else getattr(module, "REFERENCE", "")
            unit = row[4] if len(row) > 4 else getattr(module, "UNIT", "s")
            ratio = f"{pyd / ref:.2f}" if ref else "n/a"
            print(f"{figure:<22} {fmt(pyd, unit):>12} {fmt(ref, unit):>12} {ratio:>7}  {label}",
                  flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""cli.version: cold `pyd version` against a running stack (target <= 150 ms).

The reference is the interpreter's own start (`python -I -c pass`): the floor any
Python CLI pays, so the ratio shows what pyd adds on top of it. The stack runs in a
private root and network namespace (tests/stack.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench.timing import command, median_of
from tests.stack import private_stack

REFERENCE = "python -I -c pass (interpreter start)"
BIN = Path(sys.executable).parent


def run(repeat: int) -> list[tuple[str, float, float]]:
    with private_stack("benchver") as s:
        env = {**os.environ, "PYD_HOST": s.host}
        pyd = median_of(command([str(BIN / "pyd"), "version"], env=env), repeat)
        ref = median_of(command([sys.executable, "-I", "-c", "pass"]), repeat)
        return [("cli.version", pyd, ref)]

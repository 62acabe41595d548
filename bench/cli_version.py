"""cli.version: cold `pyd version` against a running stack (target ≤ 150 ms).

The reference is the interpreter's own start (`python -I -c pass`): the floor any
Python CLI pays, so the ratio shows what pyd adds on top of it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.timing import command, median_of

REFERENCE = "python -I -c pass (interpreter start)"
BIN = Path(sys.executable).parent


def run(repeat: int) -> list[tuple[str, float, float]]:
    base = Path(tempfile.mkdtemp(prefix="pyd-bench-"))
    sock = base / "state" / "pyd.sock"
    dockerd = subprocess.Popen(
        [str(BIN / "pyd-dockerd"), "--root", str(base / "root"), "--state", str(base / "state"),
         "--cgroup-parent", f"pyd-bench-{os.getpid()}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        env = {**os.environ, "PYD_HOST": f"unix://{sock}"}
        deadline = time.monotonic() + 30
        while subprocess.run([str(BIN / "pyd"), "version"], env=env, capture_output=True
                             ).returncode != 0:
            if time.monotonic() > deadline or dockerd.poll() is not None:
                raise RuntimeError("pyd-dockerd did not come up")
            time.sleep(0.1)
        pyd = median_of(command([str(BIN / "pyd"), "version"], env=env), repeat)
        ref = median_of(command([sys.executable, "-I", "-c", "pass"]), repeat)
        return [("cli.version", pyd, ref)]
    finally:
        dockerd.send_signal(signal.SIGTERM)
        try:
            dockerd.wait(20)
        except subprocess.TimeoutExpired:
            dockerd.kill()
        shutil.rmtree(base, ignore_errors=True)

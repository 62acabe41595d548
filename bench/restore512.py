"""runtime.restore512 and runtime.lazy512: restoring a container that holds 512 MiB.

One checkpoint image is made with runc from the counter bundle (a static C
program that touched 512 MiB); every figure restores that same image with
`restore -d`, timed to the command's return (the container is running then),
and the container is killed and deleted between runs.

* runtime.restore512 — `pyd-runc restore` (full) vs `runc restore` (full).
  Target ratio ≤ 1.2.
* runtime.lazy512 — `pyd-runc restore --page-server` from a sparse local
  image, pages served by pyd's page server over 127.0.0.1, vs `runc restore`
  (full).  The time includes starting `criu lazy-pages`.

    .venv/bin/python -m bench.run --only restore512 --repeat 5
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from pyd_runtime.criu.lazyimage import make_lazy_image
from pyd_runtime.criu.pageserver import PageServer
from pyd_runtime.criu.testing import Runc, make_counter_bundle, read_counter, wait_counter

REFERENCE = "runc restore (full) of the same image"
MIB = 512
PYD_RUNC = str(Path(sys.executable).parent / "pyd-runc")


def _timed(restore: Callable[[], None], cleanup: Callable[[], None]) -> float:
    t = time.perf_counter()
    try:
        restore()
        return time.perf_counter() - t
    finally:
        cleanup()


def _stop_lazy_pages(state_json: Path) -> None:
    """Kill the lazy-pages daemon pyd-runc recorded for the container, if still there."""
    try:
        pid = int(json.loads(state_json.read_text()).get("lazy_pages_pid") or 0)
    except (OSError, ValueError):
        return
    if pid > 0:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def run(repeat: int) -> list[tuple[str, float, float]]:
    # Time pyd-runc as installed: with byte-code caches (PYTHONDONTWRITEBYTECODE, set in
    # some shells, would otherwise make every run recompile the edited modules).
    import compileall

    import pyd_runtime

    compileall.compile_dir(os.path.dirname(pyd_runtime.__file__), quiet=1)
    base = Path(tempfile.mkdtemp(prefix="pyd-bench-restore-"))
    runc = Runc("runc", base / "runc-root")
    pyd = Runc(PYD_RUNC, base / "pyd-root")
    cid = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        bundle = make_counter_bundle(base / "bundle", MIB)
        runc("run", "-d", "--bundle", str(bundle), cid)
        wait_counter(bundle, 2, timeout=60)
        runc("checkpoint", "--image-path", str(base / "image"), "--work-path",
             str(base / "work"), cid)
        before = read_counter(bundle)
        assert before is not None
        local = base / "local"
        make_lazy_image(base / "image", local)

        def restore_with(rt: Runc, image: Path, *extra: str) -> Callable[[], None]:
            def go() -> None:
                work = base / f"w-{uuid.uuid4().hex[:6]}"
                rt("restore", "-d", *extra, "--image-path", str(image), "--work-path",
                   str(work), "--bundle", str(bundle), cid)
            return go

        def cleanup(rt: Runc) -> Callable[[], None]:
            def go() -> None:
                _stop_lazy_pages(rt.root / cid / "state.json")
                rt.cleanup(cid)
            return go

        samples: dict[str, list[float]] = {"runc": [], "pyd": [], "lazy": []}
        # one warm-up of each, then alternate so page-cache state is shared fairly
        for i in range(repeat + 1):
            r = _timed(restore_with(runc, base / "image"), cleanup(runc))
            p = _timed(restore_with(pyd, base / "image"), cleanup(pyd))
            with PageServer(base / "image") as ps:
                host, port = ps.address
                lz = _timed(restore_with(pyd, local, "--page-server", f"{host}:{port}"),
                            cleanup(pyd))
            if i:
                samples["runc"].append(r)
                samples["pyd"].append(p)
                samples["lazy"].append(lz)
        ref = statistics.median(samples["runc"])
        return [
            ("runtime.restore512", statistics.median(samples["pyd"]), ref),
            ("runtime.lazy512", statistics.median(samples["lazy"]), ref),
        ]
    finally:
        runc.cleanup(cid)
        pyd.cleanup(cid)
        shutil.rmtree(base, ignore_errors=True)

"""runtime.run: `pyd-runc run` of a bundle whose process is `true`, vs `runc run` of the
same bundle in the same run (target ratio ≤ 1.5).

The bundle is runc's default spec (pid, net, ipc, uts, mount namespaces, the default
mounts, masked and read-only paths, capabilities, rlimits, no_new_privs) over a
busybox-static rootfs, with a cgroupsPath under a per-run parent. The two runtimes take
turns, one run each, so drift in the machine's load hits both alike.

    .venv/bin/python -m bench.runtime_run [REPEAT]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REFERENCE = "runc run (Debian runc 1.1.5), same bundle"
PYD_RUNC = str(Path(sys.executable).parent / "pyd-runc")
RUNC = shutil.which("runc") or "/usr/sbin/runc"
_CG_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                   "systemd", "unified")


def make_bundle(base: Path, args: list[str], cgroup_parent: str) -> Path:
    """A busybox-static bundle with runc's default spec running ``args``."""
    bundle = base / "bundle"
    (bundle / "rootfs" / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", bundle / "rootfs" / "bin" / "busybox")
    for name in ("sh", "true"):
        os.symlink("busybox", bundle / "rootfs" / "bin" / name)
    subprocess.run([RUNC, "spec", "--bundle", str(bundle)], check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["args"] = args
    spec["process"]["terminal"] = False
    spec["linux"]["cgroupsPath"] = f"/{cgroup_parent}/bench"
    (bundle / "config.json").write_text(json.dumps(spec, indent=1))
    return bundle


def _remove_cgroup_parent(name: str) -> None:
    for c in _CG_CONTROLLERS:
        d = Path("/sys/fs/cgroup") / c / name
        if d.is_dir():
            for sub in sorted(d.glob("*/"), reverse=True):
                if sub.is_dir():
                    try:
                        sub.rmdir()
                    except OSError:
                        pass
            try:
                d.rmdir()
            except OSError:
                pass


def compile_runtime() -> None:
    """Byte-compile pyd_runtime as `pip install` does for a regular (non-editable) install:
    the repo's editable install has no .pyc files, and with PYTHONDONTWRITEBYTECODE set
    every run would compile the sources again."""
    import compileall

    import pyd_runtime

    compileall.compile_dir(os.path.dirname(pyd_runtime.__file__), quiet=1)


def run(repeat: int) -> list[tuple[str, float, float]]:
    """(figure, pyd-runc median s, runc median s)."""
    compile_runtime()
    base = Path(tempfile.mkdtemp(prefix="pyd-bench-runc-"))
    parent = f"pyd-bench-{os.getpid()}"
    try:
        bundle = make_bundle(base, ["true"], parent)
        roots = {"pyd": base / "root-pyd", "runc": base / "root-runc"}
        bins = {"pyd": PYD_RUNC, "runc": RUNC}
        samples: dict[str, list[float]] = {"pyd": [], "runc": []}
        for i in range(repeat + 1):
            for who in ("pyd", "runc"):
                argv = [bins[who], "--root", str(roots[who]), "run", "--bundle", str(bundle),
                        f"bench-{i}"]
                t = time.perf_counter()
                r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                dt = time.perf_counter() - t
                if r.returncode != 0:
                    raise RuntimeError(f"{who} run failed: {r.stderr.decode().strip()}")
                if i:  # the first round warms caches
                    samples[who].append(dt)
        return [("runtime.run", statistics.median(samples["pyd"]),
                 statistics.median(samples["runc"]))]
    finally:
        _remove_cgroup_parent(parent)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    for name, pyd, ref in run(n):
        print(f"{name}: pyd-runc {pyd * 1000:.1f} ms, runc {ref * 1000:.1f} ms, "
              f"ratio {pyd / ref:.2f}")

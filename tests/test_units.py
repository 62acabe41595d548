"""The systemd units are valid for this checkout's paths (systemd-analyze verify)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

UNITS = Path(__file__).parent.parent / "systemd"


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    bin_dir = str(Path(sys.executable).parent)
    units = sorted(UNITS.glob("*.service")) + sorted(UNITS.glob("*.socket"))
    assert units
    for unit in units:
        (tmp_path / unit.name).write_text(unit.read_text().replace("@BIN@", bin_dir))
    out = subprocess.run(["systemd-analyze", "verify", *map(str, tmp_path.iterdir())],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == "", out.stderr


def test_containerd_unit_lets_shims_survive_a_restart() -> None:
    text = (UNITS / "pyd-containerd.service").read_text()
    assert "KillMode=process" in text
    assert "Type=notify" in text
    assert "Delegate=yes" in text

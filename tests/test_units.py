"""The systemd units are valid for this checkout's paths (systemd-analyze verify), and
say what the engine relies on. tests/test_systemd.py runs them under a real systemd."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
UNITS = ROOT / "systemd"


def _installed(tmp_path: Path) -> list[Path]:
    """The units as scripts/install-units.sh writes them (same substitutions)."""
    bin_dir = str(Path(sys.executable).parent)
    out = []
    for unit in sorted(UNITS.glob("*.service")) + sorted(UNITS.glob("*.socket")):
        text = unit.read_text().replace("@BIN@", bin_dir).replace("@SRC@", str(ROOT))
        assert "@" not in text.replace("$MAINPID", ""), f"{unit.name}: unreplaced placeholder"
        (tmp_path / unit.name).write_text(text)
        out.append(tmp_path / unit.name)
    return out


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    units = _installed(tmp_path)
    assert {u.name for u in units} >= {"pyd-containerd.service", "pyd-dockerd.service",
                                       "pyd-dockerd.socket"}
    out = subprocess.run(["systemd-analyze", "verify", *map(str, units)],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == "", out.stderr


def _directives(name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_containerd_unit_lets_shims_survive_a_restart() -> None:
    d = _directives("pyd-containerd.service")
    assert d["KillMode"] == ["process"]
    assert d["Type"] == ["notify"]
    assert d["Delegate"] == ["yes"]


def test_dockerd_unit_uses_the_containerd_unit_and_the_activated_socket() -> None:
    d = _directives("pyd-dockerd.service")
    exec_start = d["ExecStart"][0].split()
    # Not supervising a containerd of its own: the unit's one is named.
    containerd = exec_start[exec_start.index("--containerd") + 1]
    assert containerd == "unix://" + _containerd_socket()
    assert exec_start[exec_start.index("-H") + 1] == "fd://"
    assert "pyd-dockerd.socket" in d["Requires"][0].split()
    assert "pyd-containerd.service" in d["After"][0].split()
    sock = _directives("pyd-dockerd.socket")
    assert sock["ListenStream"] == ["/run/pyd/pyd.sock"]
    assert sock["SocketMode"] == ["0660"] and sock["SocketGroup"] == ["pyd"]


def _containerd_socket() -> str:
    exec_start = _directives("pyd-containerd.service")["ExecStart"][0].split()
    state = exec_start[exec_start.index("--state") + 1]
    return f"{state}/containerd.sock"


@pytest.mark.parametrize("name", ["pyd-containerd.service", "pyd-dockerd.service"])
def test_services_restart_and_lift_limits(name: str) -> None:
    d = _directives(name)
    assert d["Restart"][0] in ("always", "on-failure")
    for key in ("LimitNOFILE", "TasksMax", "Delegate"):
        assert key in d, key


def test_dockerd_outside_systemd_says_the_socket_must_come_from_systemd(tmp_path: Path) -> None:
    """The unit's command line, run by hand: moby's message, exit 1, nothing created."""
    argv = _directives("pyd-dockerd.service")["ExecStart"][0].split()
    argv[0] = str(Path(sys.executable).parent / "pyd-dockerd")
    argv += ["--root", str(tmp_path / "root"), "--state", str(tmp_path / "state")]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LISTEN_", "NOTIFY_"))}
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 1
    assert out.stderr.strip() == ("pyd-dockerd: no sockets found via socket activation: "
                                  "make sure the service was started by systemd")
    assert not (tmp_path / "root").exists()

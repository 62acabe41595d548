"""Socket permissions: a non-root user outside group `pyd` cannot connect to any pyd
socket — dockerd's, containerd's gRPC and ttrpc sockets, the shim zygote's, a running
container's shim, and the Docker REST socket when dockerd serves one — while a user in
group `pyd` can use the CLI.

The users are made for the test (useradd) and removed after it, pass or fail. The
stack's base directory is opened to others (0711) so that what stops the outsider is
each socket's own mode (0660 root:pyd), not a directory on the way: the probe shows it
can stat every socket before it is refused.

The venv's interpreter lives under /root here, which other users cannot execute, so a
probe starts as root, imports what it needs, then drops to the user (setgroups, setgid,
setuid: no capability survives) before it touches a socket.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stack import Stack

pytestmark = [pytest.mark.root, pytest.mark.e2e]

GROUP = "pyd"

PROBE = r"""
import errno, json, os, socket, sys

uid, gid, groups, host, paths = json.loads(sys.argv[1])
from pyd_cli.main import run

# As root, against no daemon: loads every module the CLI needs while /root is readable,
# without a connection that gRPC could hand to the later channel (it shares them).
os.environ["PYD_HOST"] = "unix:///nonexistent/pyd.sock"
run(["ps", "-q"])
os.environ["PYD_HOST"] = host
os.setgroups(groups)
os.setgid(gid)
os.setuid(uid)
os.environ["HOME"] = "/nonexistent"
out = {"ids": [os.getuid(), os.geteuid(), os.getgid(), sorted(os.getgroups())]}
for p in paths:
    r = {}
    try:
        os.stat(p)
        r["stat"] = "ok"
    except OSError as e:
        r["stat"] = errno.errorcode[e.errno]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(p)
        r["connect"] = "ok"
    except OSError as e:
        r["connect"] = errno.errorcode[e.errno]
    finally:
        s.close()
    out[p] = r
sys.stdout.flush()
out["cli"] = run(["ps", "--format", "{{.Names}}"])
print("\n" + json.dumps(out))
"""


@contextlib.contextmanager
def temporary_user(groups: list[str]) -> Iterator[pwd.struct_passwd]:
    name = f"pydt{uuid.uuid4().hex[:8]}"
    argv = ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group"]
    if groups:
        argv += ["--groups", ",".join(groups)]
    subprocess.run([*argv, name], check=True, capture_output=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)
        with contextlib.suppress(KeyError):  # the user's own group, if userdel kept it
            grp.getgrnam(name)
            subprocess.run(["groupdel", name], check=False, capture_output=True)


@pytest.fixture
def pyd_group() -> Iterator[grp.struct_group]:
    """Group `pyd` (scripts/install.sh makes it); made and removed here if missing."""
    try:
        yield grp.getgrnam(GROUP)
        return
    except KeyError:
        pass
    subprocess.run(["groupadd", "--system", GROUP], check=True, capture_output=True)
    try:
        yield grp.getgrnam(GROUP)
    finally:
        subprocess.run(["groupdel", GROUP], check=False, capture_output=True)


def sockets_of(s: Stack) -> list[Path]:
    cstate = s.state / "containerd"
    found = [
        s.socket,
        s.containerd_socket,
        Path(f"{s.containerd_socket}.ttrpc"),
        cstate / "shim-zygote.sock",
    ]
    for address in cstate.glob("io.containerd.runtime.v2.task/moby/*/address"):
        found.append(Path(address.read_text().strip().removeprefix("unix://")))
    docker = s.state / "docker.sock"
    if docker.exists():
        found.append(docker)
    return found


def probe(
    s: Stack, user: pwd.struct_passwd, groups: list[int], paths: list[Path]
) -> dict[str, Any]:
    args = json.dumps([user.pw_uid, user.pw_gid, groups, s.host, [str(p) for p in paths]])
    out = subprocess.run(
        [sys.executable, "-c", PROBE, args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert out.stdout.strip(), out.stderr
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["stderr"], result["stdout"] = out.stderr, out.stdout
    return result


def test_only_group_pyd_reaches_the_sockets(stack: Stack, pyd_group: grp.struct_group) -> None:
    s = stack
    s.cli("run", "-d", "--name", "perm", "busybox", "sleep", "3600", check=True)
    paths = sockets_of(s)
    assert len(paths) >= 5, paths  # dockerd, containerd, ttrpc, zygote, one shim
    for p in paths:
        st = os.stat(p)
        assert stat.S_ISSOCK(st.st_mode), p
        assert stat.S_IMODE(st.st_mode) & 0o007 == 0, (p, oct(st.st_mode))
        # The API sockets are the group's (DESIGN.md, Wire); the internal ones (ttrpc,
        # zygote, shims) may be root's alone, as upstream's are by default.
        want = {pyd_group.gr_gid} if p in (s.socket, s.containerd_socket) else {0, pyd_group.gr_gid}
        assert st.st_uid == 0 and st.st_gid in want, (p, st.st_uid, st.st_gid)
    os.chmod(s.base, 0o711)  # mkdtemp made it 0700: let the probe reach the sockets

    with temporary_user([]) as outsider:
        got = probe(s, outsider, [], paths)
        assert got["ids"] == [outsider.pw_uid, outsider.pw_uid, outsider.pw_gid, []], got
        for p in paths:
            # Reached (stat works) and refused by the socket's own mode.
            assert got[str(p)] == {"stat": "ok", "connect": "EACCES"}, (p, got)
        assert got["cli"] != 0, got
        assert "permission denied" in str(got["stderr"]).lower(), got["stderr"]

    with temporary_user([GROUP]) as member:
        got = probe(s, member, [pyd_group.gr_gid], [s.socket])
        assert got["ids"][:3] == [member.pw_uid, member.pw_uid, member.pw_gid], got
        assert got[str(s.socket)] == {"stat": "ok", "connect": "ok"}, got
        assert got["cli"] == 0, got["stderr"]
        assert "perm" in str(got["stdout"]).split(), got["stdout"]

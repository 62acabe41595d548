"""The daemons' databases across releases and disasters, with the real binaries:

- a database written by the previous schema revision (dockerd d0002, containerd c0001)
  is upgraded in place by Alembic when the daemon starts, and its rows survive;
- a corrupt SQLite file stops the daemon with a clear message and a non-zero exit,
  and is left as it was (never replaced by an empty database).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from pyd_db import containerd as containerd_schema
from pyd_db import dockerd as dockerd_schema
from pyd_db.database import upgrade
from tests.stack import Stack, binary, private_stack

pytestmark = [pytest.mark.root, pytest.mark.e2e]

PREVIOUS = {"dockerd": "d0002", "containerd": "c0001"}


def dockerd_db(stack: Stack) -> Path:
    return stack.root / "pyd.db"


def containerd_db(stack: Stack) -> Path:
    return stack.root / "containerd" / "io.containerd.metadata.v1.sqlite" / "meta.db"


def build_at(path: Path, schema: str, revision: str) -> None:
    """A database as the release whose newest revision was `revision` left it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}")
    try:
        upgrade(engine, schema, revision)
    finally:
        engine.dispose()


def revision_of(path: Path) -> str:
    con = sqlite3.connect(path)
    try:
        return str(con.execute("SELECT version_num FROM alembic_version").fetchone()[0])
    finally:
        con.close()


def tables_of(path: Path) -> set[str]:
    con = sqlite3.connect(path)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        con.close()


def test_previous_schema_revisions_are_upgraded_in_place_at_start() -> None:
    with private_stack("dbup", start=False) as s:
        engine_id = str(uuid.uuid4()).upper()
        volume = "keepme"
        mountpoint = s.root / "volumes" / volume / "_data"
        mountpoint.mkdir(parents=True)
        now = datetime.now(UTC).isoformat(sep=" ")
        build_at(dockerd_db(s), "dockerd", PREVIOUS["dockerd"])
        con = sqlite3.connect(dockerd_db(s))
        with con:
            con.execute("INSERT INTO engine (key, value) VALUES ('id', ?)", (engine_id,))
            con.execute("INSERT INTO volumes (name, driver, mountpoint, anonymous, options, "
                        "labels, created_at) VALUES (?, 'local', ?, 0, '{}', ?, ?)",
                        (volume, str(mountpoint), json.dumps({"from": "d0002"}), now))
        con.close()
        build_at(containerd_db(s), "containerd", PREVIOUS["containerd"])
        con = sqlite3.connect(containerd_db(s))
        with con:
            con.execute("INSERT INTO namespaces (name, created_at) VALUES ('oldns', ?)", (now,))
            con.execute("INSERT INTO namespace_labels (namespace, key, value) "
                        "VALUES ('oldns', 'release', 'c0001')")
        con.close()
        assert "checkpoints" not in tables_of(dockerd_db(s))
        assert "containers" not in tables_of(containerd_db(s))
        inodes = (dockerd_db(s).stat().st_ino, containerd_db(s).stat().st_ino)

        s.start()

        # In place: the same files, brought to HEAD.
        assert (dockerd_db(s).stat().st_ino, containerd_db(s).stat().st_ino) == inodes

        assert revision_of(dockerd_db(s)) == dockerd_schema.HEAD
        assert revision_of(containerd_db(s)) == containerd_schema.HEAD
        assert "checkpoints" in tables_of(dockerd_db(s))
        assert "containers" in tables_of(containerd_db(s))
        info = s.cli("info", "--format", "{{.ID}}", check=True)
        assert info.stdout.strip() == engine_id
        vol = json.loads(s.cli("volume", "inspect", volume, check=True).stdout)[0]
        assert (vol["Mountpoint"], vol["Labels"]) == (str(mountpoint), {"from": "d0002"})
        # The upgraded containerd serves the old namespace and works on new records.
        from pyd_proto import dial
        from pyd_proto.containerd.services.namespaces.v1 import namespace_pb2, namespace_pb2_grpc

        with dial.channel(str(s.containerd_socket)) as ch:
            got = namespace_pb2_grpc.NamespacesStub(ch).Get(
                namespace_pb2.GetNamespaceRequest(name="oldns"), timeout=10).namespace
        assert dict(got.labels) == {"release": "c0001"}
        s.cli("run", "--rm", "--network", "none", "-v", f"{volume}:/data", "busybox",
              "touch", "/data/written", check=True)
        assert (mountpoint / "written").exists()


def corrupt(path: Path) -> bytes:
    """Overwrite the middle of a real database's pages with garbage; returns the result."""
    data = bytearray(path.read_bytes())
    assert len(data) >= 3 * 4096, len(data)
    data[4096:len(data) - 100] = b"\xa5" * (len(data) - 100 - 4096)
    path.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return bytes(data)


def run_daemon(s: Stack, argv: list[str]) -> subprocess.CompletedProcess[str]:
    # Without --debug, as a unit runs it: the clear one-line message, no traceback. In the
    # stack's netns, so a daemon that got further than it should touches no host network.
    return subprocess.run(s.netns_argv(argv), capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("daemon", ["dockerd", "containerd"])
def test_corrupt_database_stops_the_daemon_with_a_clear_message(daemon: str) -> None:
    with private_stack(f"dbbad{daemon[0]}", start=False) as s:
        s.start()
        s.cli("volume", "create", "v1", check=True)
        assert s.stop() == 0
        path = dockerd_db(s) if daemon == "dockerd" else containerd_db(s)
        # Fold the WAL into the main file so the corruption hits real records.
        con = sqlite3.connect(path)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        broken = corrupt(path)

        if daemon == "dockerd":
            argv = [binary("pyd-dockerd"), "--root", str(s.root), "--state", str(s.state),
                    "--cgroup-parent", s.cgroup_parent]
        else:
            argv = [binary("pyd-containerd"), "--root", str(s.root / "containerd"),
                    "--state", str(s.state / "containerd"),
                    "--address", str(s.containerd_socket)]
        out = run_daemon(s, argv)
        assert out.returncode != 0, out
        assert str(path) in out.stderr, out.stderr
        assert "not a usable SQLite database" in out.stderr \
            or "integrity check failed" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr, out.stderr
        assert path.read_bytes() == broken  # kept for the operator, not replaced
        assert not s.socket.exists() and not s.containerd_socket.exists()
        if daemon == "containerd":
            # Under dockerd too: dockerd does not come up on a containerd that cannot.
            out = run_daemon(s, [binary("pyd-dockerd"), "--root", str(s.root), "--state",
                              str(s.state), "--cgroup-parent", s.cgroup_parent])
            assert out.returncode != 0, out
            assert str(path) in out.stderr and "pyd-containerd" in out.stderr, out.stderr
            assert not s.socket.exists()


def test_garbage_file_is_not_replaced_by_an_empty_database() -> None:
    with private_stack("dbjunk", start=False) as s:
        path = dockerd_db(s)
        path.parent.mkdir(parents=True)
        path.write_bytes(b"this is not a database\n" * 200)
        out = run_daemon(s, [binary("pyd-dockerd"), "--root", str(s.root), "--state",
                          str(s.state), "--cgroup-parent", s.cgroup_parent])
        assert out.returncode != 0, out
        assert f"{path}: not a usable SQLite database" in out.stderr, out.stderr
        assert path.read_bytes() == b"this is not a database\n" * 200

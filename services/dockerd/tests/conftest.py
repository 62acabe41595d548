"""Shared fixtures: dockerd's database migrated in a temporary root, and a private
network namespace for tests that touch the kernel's networking."""

from __future__ import annotations

import contextlib
import ctypes
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pyd_db.database import open_database

_libc = ctypes.CDLL(None, use_errno=True)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = open_database(tmp_path / "pyd.db", "dockerd")
    yield eng
    eng.dispose()


def unmount_under(root: Path) -> None:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for p in sorted((p for p in points if p.startswith(str(root))), key=len, reverse=True):
        _libc.umount2(p.encode(), 2)


@pytest.fixture
def private_netns(tmp_path: Path) -> Iterator[str]:
    """A fresh network namespace this test's thread runs in; removed afterwards with
    every interface and iptables rule in it, and any namespace file under tmp_path."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    from pyroute2 import netns

    name = f"pydt-{uuid.uuid4().hex[:8]}"
    netns.create(name)
    path = f"/run/netns/{name}"
    try:
        from pyd_dockerd.network import bridge

        with bridge.entered(path):
            bridge.loopback_up(path)
            yield path
    finally:
        unmount_under(tmp_path)
        with contextlib.suppress(OSError):
            netns.remove(name)

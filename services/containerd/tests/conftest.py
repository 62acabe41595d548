"""Shared fixtures: a migrated metadata database in a temporary root."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pyd_db.database import open_database

# the builders in containerd_testimages.py (tests run with --import-mode=importlib)
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = open_database(tmp_path / "meta.db", "containerd")
    yield eng
    eng.dispose()

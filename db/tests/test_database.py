"""The schemas open, migrate to head, run in WAL mode and refuse a corrupt file."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from pyd_db import database


@pytest.mark.parametrize("schema", database.SCHEMAS)
def test_head_constant_matches_alembic_head(schema: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(database.__file__).parent / schema))
    assert ScriptDirectory.from_config(cfg).get_current_head() == database.head_revision(schema)


@pytest.mark.parametrize("schema", database.SCHEMAS)
def test_open_creates_schema_at_head_in_wal_mode(tmp_path: Path, schema: str) -> None:
    engine = database.open_database(tmp_path / "meta.db", schema)
    assert database.current_revision(engine) == database.head_revision(schema)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()
    # Opening again is a no-op on an up-to-date schema.
    engine = database.open_database(tmp_path / "meta.db", schema)
    assert database.current_revision(engine) == database.head_revision(schema)
    engine.dispose()


def test_corrupt_file_is_refused_not_replaced(tmp_path: Path) -> None:
    db = tmp_path / "meta.db"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(database.CorruptDatabase, match="not a usable SQLite database"):
        database.open_database(db, "dockerd")
    assert db.read_bytes().startswith(b"this is not sqlite")

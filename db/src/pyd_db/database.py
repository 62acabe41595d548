"""Opening a daemon's SQLite database: WAL, integrity check, Alembic upgrade.

SQLite plays the part bbolt plays upstream: every multi-record change is one
transaction, so a daemon killed at any moment leaves consistent records. Each
schema change is an Alembic revision under `pyd_db/<schema>/versions`, applied
here at daemon start.
"""

from __future__ import annotations

import importlib
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text

log = logging.getLogger("pyd.db")

SCHEMAS = ("dockerd", "containerd")


class CorruptDatabase(RuntimeError):
    """The file is not a usable SQLite database; the daemon must not start empty."""


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _check_integrity(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        con = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
        try:
            row = con.execute("PRAGMA quick_check").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        raise CorruptDatabase(f"{path}: not a usable SQLite database ({e}); "
                              "move it aside or restore it from a backup") from e
    if not row or row[0] != "ok":
        raise CorruptDatabase(f"{path}: integrity check failed ({row[0] if row else '?'})")


def head_revision(schema: str) -> str:
    """The newest revision of `schema`, as its package declares it (checked by a test)."""
    return str(importlib.import_module(f"pyd_db.{schema}").HEAD)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        has = conn.execute(text(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'")).first()
        if not has:
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return str(row[0]) if row else None


def upgrade(engine: Engine, schema: str, revision: str = "head") -> None:
    """Run Alembic's upgrade for `schema` on `engine` (in one transaction)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / schema))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def open_database(path: str | os.PathLike[str], schema: str) -> Engine:
    """Open (creating if needed) the database at `path` and bring its schema to head.

    Alembic is imported only when the schema is behind, which keeps daemon start fast.
    """
    if schema not in SCHEMAS:
        raise ValueError(f"unknown schema {schema!r}")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _check_integrity(p)
    # Enough connections for every gRPC worker thread (64) without queueing on the pool.
    engine = create_engine(f"sqlite:///{p}", pool_size=16, max_overflow=64, future=True)
    event.listen(engine, "connect", _on_connect)
    try:
        current = current_revision(engine)
    except Exception as e:  # sqlite3 raises on garbage that passed the header check
        raise CorruptDatabase(f"{p}: cannot read schema version ({e})") from e
    if current != head_revision(schema):
        log.info("migrating database", extra={"path": str(p), "from": current or "empty",
                                              "to": head_revision(schema)})
        upgrade(engine, schema)
    return engine

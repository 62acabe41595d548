"""Facts about this engine kept in dockerd's database (its ID, as `docker info` shows)."""

from __future__ import annotations

import uuid

from sqlalchemy import Column, Engine, MetaData, String, Table, Text, insert, select

metadata = MetaData()
engine_facts = Table(
    "engine", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)


def engine_id(engine: Engine) -> str:
    """This engine's ID, made once on first start and kept."""
    with engine.begin() as conn:
        row = conn.execute(select(engine_facts.c.value).where(engine_facts.c.key == "id")).first()
        if row:
            return str(row[0])
        new = str(uuid.uuid4()).upper()
        conn.execute(insert(engine_facts).values(key="id", value=new))
        return new

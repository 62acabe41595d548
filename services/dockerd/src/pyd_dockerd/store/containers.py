"""Container records in dockerd's database (moby's container store, name registrar
and truncindex in one): lookups by full id, name or unique id prefix, with Docker's
error messages. The row's unique `name` column is the name reservation."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from pyd_dockerd.container import names
from pyd_dockerd.container.container import Container
from pyd_dockerd.container.state import State
from pyd_dockerd.store import tables
from pyd_proto.errdefs import AlreadyExists, InvalidArgument, NotFound

_HEX = re.compile(r"^[0-9a-f]+$")
t = tables.containers


def name_conflict(name: str, holder: str) -> AlreadyExists:
    return AlreadyExists(
        f'Conflict. The container name "/{name}" is already in use by container "{holder}". '
        "You have to remove (or rename) that container to be able to reuse that name.")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class ContainerStore:
    """Persistent containers; `root` is the directory holding one dir per container."""

    def __init__(self, engine: Engine, root: str) -> None:
        self.engine = engine
        self.root = root

    # --- rows <-> objects --------------------------------------------------------
    def _row_values(self, c: Container) -> dict[str, Any]:
        return {"image": c.image, "config": c.config, "host_config": c.host_config,
                "state": c.state.to_dict(), "path": c.path, "args": c.args,
                "network_settings": c.network_settings, "mounts": c.mounts,
                "restart_count": c.restart_count, "manually_stopped": c.manually_stopped,
                "driver": c.driver, "platform": c.platform}

    def _from_row(self, row: Any) -> Container:
        m = row._mapping
        return Container(
            id=m["id"], name=m["name"], image=m["image"], config=dict(m["config"] or {}),
            host_config=dict(m["host_config"] or {}), state=State.from_dict(m["state"] or {}),
            created=_utc(m["created_at"]), path=m["path"], args=list(m["args"] or []),
            network_settings=dict(m["network_settings"] or {}),
            mounts=list(m["mounts"] or []), restart_count=m["restart_count"],
            manually_stopped=bool(m["manually_stopped"]), driver=m["driver"],
            platform=m["platform"], root=os.path.join(self.root, m["id"]))

    # --- writes ------------------------------------------------------------------
    def create(self, c: Container) -> Container:
        """Insert `c`, reserving its name; an empty name gets a generated one.

        Raises AlreadyExists with Docker's conflict message when the name is taken.
        """
        if not c.id:
            c.id = names.generate_id()
        c.root = os.path.join(self.root, c.id)
        generated = not c.name
        if not generated:
            c.name = names.validate_name(c.name)
        for attempt in range(10 if generated else 1):
            if generated:
                c.name = names.random_name(attempt)
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(t).values(id=c.id, name=c.name,
                                                  created_at=c.created,
                                                  **self._row_values(c)))
                return c
            except IntegrityError as e:
                holder = self._holder(c.name)
                if holder is None:  # the id collided (practically never): a new one
                    if self.exists_id(c.id):
                        c.id = names.generate_id()
                        c.root = os.path.join(self.root, c.id)
                        continue
                    raise
                if not generated:
                    raise name_conflict(c.name, holder) from e
        raise AlreadyExists("could not generate a unique container name")

    def save(self, c: Container) -> None:
        """Write every mutable field of `c` (not its name: see `rename`)."""
        with self.engine.begin() as conn:
            res = conn.execute(update(t).where(t.c.id == c.id).values(**self._row_values(c)))
        if res.rowcount == 0:
            raise NotFound(f"No such container: {c.id}")

    def rename(self, ref: str, new_name: str) -> Container:
        """Give the container `ref` the name `new_name` (Docker's rename rules)."""
        c = self.get(ref)
        if not new_name:
            raise InvalidArgument("Neither old nor new names may be empty")
        new = names.validate_name(new_name)
        if new == c.name:
            raise InvalidArgument("Renaming a container with the same name as its current "
                                  "name")
        try:
            with self.engine.begin() as conn:
                conn.execute(update(t).where(t.c.id == c.id).values(name=new))
        except IntegrityError as e:
            holder = self._holder(new) or "?"
            raise AlreadyExists("Error when allocating new name: "
                                + str(name_conflict(new, holder))) from e
        c.name = new
        return c

    def delete(self, container_id: str) -> None:
        """Remove the record, releasing the name."""
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.id == container_id))

    # --- reads -------------------------------------------------------------------
    def _holder(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.c.id).where(t.c.name == name)).first()
        return str(row[0]) if row else None

    def exists_id(self, container_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(t.c.id).where(t.c.id == container_id)).first() is not None

    def resolve_id(self, ref: str) -> str:
        """The full id `ref` stands for: a full id, a name ("/name" too), or a unique
        id prefix, in Docker's order. NotFound "No such container: REF" otherwise."""
        if not ref:
            raise NotFound("No such container: ")
        with self.engine.connect() as conn:
            row = conn.execute(select(t.c.id).where(t.c.id == ref)).first()
            if row:
                return str(row[0])
            row = conn.execute(select(t.c.id).where(t.c.name == ref.removeprefix("/"))).first()
            if row:
                return str(row[0])
            if _HEX.match(ref):
                rows = conn.execute(select(t.c.id).where(t.c.id.startswith(ref))
                                    .limit(2)).all()
                if len(rows) > 1:
                    raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
                if rows:
                    return str(rows[0][0])
        raise NotFound(f"No such container: {ref}")

    def get(self, ref: str) -> Container:
        cid = self.resolve_id(ref)
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == cid)).first()
        if row is None:  # removed between the two reads
            raise NotFound(f"No such container: {ref}")
        return self._from_row(row)

    def list(self) -> list[Container]:
        """Every container, newest first (as `ps` lists them)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.created_at.desc())).all()
        return [self._from_row(r) for r in rows]

    def names(self) -> dict[str, str]:
        """name → id of every container."""
        with self.engine.connect() as conn:
            return {str(n): str(i) for i, n in conn.execute(select(t.c.id, t.c.name))}

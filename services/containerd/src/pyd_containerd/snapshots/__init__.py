"""Snapshotters (containerd's snapshots/): the types every snapshotter shares."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Kind(enum.IntEnum):
    """Upstream's snapshots.v1.Kind numbers."""

    UNKNOWN = 0
    VIEW = 1
    ACTIVE = 2
    COMMITTED = 3


@dataclass
class Mount:
    """One mount(2) call, as containerd.types.Mount carries it."""

    type: str
    source: str
    options: list[str] = field(default_factory=list)
    target: str = ""


@dataclass
class Info:
    name: str
    parent: str = ""
    kind: Kind = Kind.UNKNOWN
    labels: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class Usage:
    size: int = 0
    inodes: int = 0

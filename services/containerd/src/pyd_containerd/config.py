"""pyd-containerd's configuration: where its data, state and socket live."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_ROOT = "/var/lib/pyd/containerd"
DEFAULT_STATE = "/run/pyd/containerd"


@dataclass(frozen=True)
class Config:
    root: str = DEFAULT_ROOT
    state: str = DEFAULT_STATE
    address: str = ""  # empty: <state>/containerd.sock
    debug: bool = False
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def socket_path(self) -> str:
        return self.address or os.path.join(self.state, "containerd.sock")

    @property
    def db_path(self) -> str:
        return os.path.join(self.root, "io.containerd.metadata.v1.sqlite", "meta.db")

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
    # Tasks: the OCI runtime shims run (any runc-compatible CLI, e.g. Debian's `runc`),
    # its --root (empty: <state>/runc; each namespace gets a directory below), and
    # the shim binary (empty: `pyd-shim` next to this Python, else on PATH).
    runtime_binary: str = "pyd-runc"
    runtime_root: str = ""
    shim_binary: str = ""

    @property
    def socket_path(self) -> str:
        return self.address or os.path.join(self.state, "containerd.sock")

    @property
    def db_path(self) -> str:
        return os.path.join(self.root, "io.containerd.metadata.v1.sqlite", "meta.db")

    @property
    def ttrpc_path(self) -> str:
        """Where shims publish their events (upstream: <socket>.ttrpc)."""
        return self.socket_path + ".ttrpc"

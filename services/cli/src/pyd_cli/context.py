"""What every command receives as `ctx.obj`: the global flags and a lazy client."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyd_cli.errors import EXIT_ERROR

if TYPE_CHECKING:
    from pyd_cli.client import Client


class Cli:
    """Global options plus the per-command error policy main() applies.

    `run` (and a restore: `start --checkpoint`/`--lazy-restore`, `create
    --from-checkpoint`) sets `daemon_error_status = 125`; `run` sets
    `error_prefix = "pyd: "` and `error_period` (docker run's reportError ends
    every message with ".").
    """

    def __init__(self, host: str, debug: bool = False) -> None:
        self.host = host
        self.debug = debug
        self.daemon_error_status = EXIT_ERROR
        self.error_prefix = ""
        self.error_period = False
        self._client: Client | None = None

    def client(self, *, check_version: bool = True) -> Client:
        """The daemon client (connects on its first call, not here)."""
        if self._client is None:
            from pyd_cli.client import Client

            self._client = Client(self.host, check_version=check_version)
        return self._client

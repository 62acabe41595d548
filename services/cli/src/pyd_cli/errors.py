"""Errors the CLI reports as one line on stderr and an exit status (never a traceback)."""

from __future__ import annotations

# Exit statuses, as docker/cli uses them (see services/cli/README.md).
EXIT_ERROR = 1
EXIT_DAEMON = 125  # run (and a refused restore): the error is with the daemon itself
EXIT_CANNOT_INVOKE = 126  # the container's command cannot be invoked
EXIT_NOT_FOUND = 127  # the container's command was not found
EXIT_USAGE = 125  # a bad flag (docker's FlagErrorFunc)


class CliError(Exception):
    """Print `message` (when not empty) on stderr and exit with `status`."""

    def __init__(self, message: str, status: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

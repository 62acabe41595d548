"""Structured logs shared by every pyd daemon.

Lines are logfmt (`time=... level=info msg="..." request_id=...`), the shape
containerd and dockerd print through logrus, so the same tools read both. A
per-request id lives in a context variable that the gRPC interceptor in
`pyd_proto.server` sets for the duration of each call.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from typing import Any

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_RESERVED = set(vars(logging.makeLogRecord({})))


def _quote(value: object) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' ="\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class LogfmtFormatter(logging.Formatter):
    """Formats a record as logfmt, adding `extra=` fields and the request id."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"time={ts}.{int(record.msecs):03d}Z",
            f"level={record.levelname.lower()}",
            f"msg={_quote(record.getMessage())}",
            f"component={self.component}",
        ]
        rid = request_id.get()
        if rid:
            parts.append(f"request_id={rid}")
        for key, value in vars(record).items():
            if key not in _RESERVED and key not in ("message", "asctime") and key[0] != "_":
                parts.append(f"{key}={_quote(value)}")
        if record.exc_info:
            parts.append(f"error={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)


def setup(component: str, *, debug: bool = False, stream: Any = None) -> None:
    """Send every log record of this process to stderr (or `stream`) as logfmt."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(LogfmtFormatter(component))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # Alembic narrates every plugin it loads at INFO; only its problems matter here.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # pyroute2 narrates every netlink message at DEBUG (and resets its logger's level
    # when imported), asyncio names its selector: only their warnings pass.
    handler.addFilter(_quiet_libraries)


def _quiet_libraries(record: logging.LogRecord) -> bool:
    if record.levelno >= logging.WARNING:
        return True
    return not record.name.startswith(("pyroute2", "asyncio"))

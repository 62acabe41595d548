"""The shim's logs: the same logfmt lines as `pyd_proto.logs`, without the logging package.

A shim lives as long as its container and one runs per container, so the
~0.7 MiB the logging package costs each of them is not worth it here.
"""

from __future__ import annotations

import os
import sys
import threading
import time

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
_state: dict[str, int | str] = {"level": 20, "component": "shim"}
_lock = threading.Lock()


def setup(component: str = "shim", *, debug: bool = False) -> None:
    _state["component"] = component
    _state["level"] = 10 if debug else 20


def _quote(value: object) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' ="\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class Logger:
    """`log.info("msg", extra={"key": value})`, as with logging's loggers."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _emit(self, level: str, msg: str, extra: dict[str, object] | None,
              error: str = "") -> None:
        if _LEVELS[level] < int(_state["level"]):
            return
        now = time.time()
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        parts = [f"time={ts}.{int(now % 1 * 1000):03d}Z", f"level={level}",
                 f"msg={_quote(msg)}", f"component={_state['component']}"]
        for key, value in (extra or {}).items():
            parts.append(f"{key}={_quote(value)}")
        if error:
            parts.append(f"error={_quote(error)}")
        line = " ".join(parts) + "\n"
        with _lock:
            try:
                os.write(2, line.encode(errors="replace"))
            except OSError:
                pass

    def debug(self, msg: str, extra: dict[str, object] | None = None) -> None:
        self._emit("debug", msg, extra)

    def info(self, msg: str, extra: dict[str, object] | None = None) -> None:
        self._emit("info", msg, extra)

    def warning(self, msg: str, extra: dict[str, object] | None = None) -> None:
        self._emit("warning", msg, extra)

    def error(self, msg: str, extra: dict[str, object] | None = None) -> None:
        self._emit("error", msg, extra)

    def exception(self, msg: str, extra: dict[str, object] | None = None) -> None:
        import traceback

        self._emit("error", msg, extra, traceback.format_exc().strip())


def get_logger(name: str) -> Logger:
    return Logger(name)


def flush() -> None:
    sys.stderr.flush()

"""runc-style logging: logrus text (``time="..." level=error msg="..."``) or JSON lines,
to stderr or to the ``--log`` file (where containerd's shim reads errors from)."""

from __future__ import annotations

import os
import sys
import time

from pyd_runtime import fastjson

_path: str | None = None
_json = False
_debug = False


def configure(path: str | None, fmt: str, debug: bool) -> None:
    """Apply the global --log, --log-format and --debug flags."""
    global _path, _json, _debug
    _path = path or None
    _json = fmt == "json"
    _debug = debug


def to_stderr() -> bool:
    """Whether log lines already go to stderr."""
    return _path is None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _quote(s: str) -> str:
    # logrus quotes a value only when it needs to; error messages nearly always do.
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _emit(level: str, msg: str) -> None:
    if _json:
        line = fastjson.dumps_spaced({"level": level, "msg": msg, "time": _now()}) + "\n"
    else:
        line = f'time="{_now()}" level={level} msg={_quote(msg)}\n'
    if _path is None:
        sys.stderr.write(line)
        sys.stderr.flush()
        return
    try:
        fd = os.open(_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        sys.stderr.write(line)
        return
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def error(msg: str) -> None:
    """An error line."""
    _emit("error", msg)


def warning(msg: str) -> None:
    """A warning line."""
    _emit("warning", msg)


def debug(msg: str) -> None:
    """A debug line, only with --debug."""
    if _debug:
        _emit("debug", msg)

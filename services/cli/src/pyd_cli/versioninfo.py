"""The client's own version facts: no grpc, no subprocess, cheap to import."""

from __future__ import annotations

import os
import platform

from pyd_cli import __version__
from pyd_proto.pyd.dockerd.v1 import API_VERSION, MIN_API_VERSION

VERSION = __version__
__all__ = ["API_VERSION", "MIN_API_VERSION", "VERSION", "build_time", "git_commit", "go_arch"]

# Python's machine names → Go's GOARCH, which `docker version` prints.
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def go_arch() -> str:
    """This machine's architecture the way docker names it (amd64, arm64)."""
    machine = platform.machine()
    return _GOARCH.get(machine, machine)


def git_commit() -> str:
    """The short commit of the source tree this client runs from, or "unknown".

    Read from .git by hand (HEAD, loose ref, packed-refs) so no git process runs.
    """
    directory = os.path.dirname(os.path.realpath(__file__))
    while True:
        git = os.path.join(directory, ".git")
        if os.path.isdir(git):
            return _read_head(git)
        parent = os.path.dirname(directory)
        if parent == directory:
            return "unknown"
        directory = parent


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _read_head(git: str) -> str:
    try:
        head = _read(os.path.join(git, "HEAD")).strip()
        if not head.startswith("ref: "):
            return head[:7]
        ref = head[5:]
        loose = os.path.join(git, ref)
        if os.path.isfile(loose):
            return _read(loose).strip()[:7]
        packed = os.path.join(git, "packed-refs")
        if os.path.isfile(packed):
            for line in _read(packed).splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0][:7]
    except OSError:
        pass
    return "unknown"


def build_time() -> float | None:
    """When the installed package was built: the mtime of its own files."""
    try:
        return os.stat(os.path.join(os.path.dirname(__file__), "__init__.py")).st_mtime
    except OSError:
        return None


def parse_api_version(value: str) -> tuple[int, ...]:
    """ "1.43" → (1, 43); anything unparsable → ()."""
    try:
        return tuple(int(p) for p in value.split("."))
    except ValueError:
        return ()

"""Versions of the programs dockerd drives (runtime, CRIU), read once from their
`--version` output: running them costs a process start each, so it is done in the
background at daemon start, not on every `pyd version`."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from dataclasses import dataclass, field


@dataclass
class Component:
    name: str
    version: str = ""
    path: str = ""
    details: dict[str, str] = field(default_factory=dict)
    error: str = ""


def _run_version(argv: list[str]) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    return out.stdout + out.stderr


def runtime_component(binary: str) -> Component:
    """`runc --version` shape: 'runc version 1.1.5', 'commit: ...', 'spec: 1.0.2'."""
    from pyd_dockerd.libcontainerd.supervisor import find_binary

    try:
        path = find_binary(binary) if "/" not in binary else binary
    except FileNotFoundError as e:
        return Component("runtime", path=binary, error=str(e),
                         details={"Name": binary.rsplit("/", 1)[-1]})
    comp = Component("runtime", path=path)
    try:
        text = _run_version([path, "--version"])
    except OSError as e:
        comp.error = str(e)
        return comp
    for line in text.splitlines():
        m = re.match(r"^\S+ version (\S+)", line)
        if m:
            comp.version = m.group(1)
        elif ":" in line:
            key, _, value = line.partition(":")
            comp.details[key.strip().capitalize()] = value.strip()
    comp.details.setdefault("Name", binary.rsplit("/", 1)[-1])
    return comp


def criu_component(binary: str = "criu") -> Component:
    """`criu --version` shape: 'Version: 4.1.1'."""
    path = shutil.which(binary) or ""
    comp = Component("criu", path=path)
    if not path:
        comp.error = "criu not found on PATH"
        return comp
    try:
        text = _run_version([path, "--version"])
    except OSError as e:
        comp.error = str(e)
        return comp
    m = re.search(r"Version:\s*(\S+)", text)
    comp.version = m.group(1) if m else ""
    return comp


class ComponentCache:
    """Collects the external components' versions once, in a background thread."""

    def __init__(self, runtime: str) -> None:
        self._runtime = runtime
        self._done = threading.Event()
        self._items: dict[str, Component] = {}
        threading.Thread(target=self._collect, name="component-versions", daemon=True).start()

    def _collect(self) -> None:
        try:
            self._items = {"runtime": runtime_component(self._runtime), "criu": criu_component()}
        finally:
            self._done.set()

    def get(self, name: str, timeout: float = 10.0) -> Component:
        self._done.wait(timeout)
        return self._items.get(name) or Component(name, error="not collected")

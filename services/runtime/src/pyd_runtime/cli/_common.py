"""Helpers shared by the command modules."""

from __future__ import annotations

import os

from pyd_runtime.libcontainer.container import Container
from pyd_runtime.specconv import Config, load_spec, spec_to_config

# typing is imported only by type checkers: it costs start-up time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def container(g: Any, container_id: str) -> Container:
    """Load a container from the global --root."""
    return Container.load(g.root, container_id)


def bundle_config(bundle: str) -> tuple[dict[str, Any], Config]:
    """chdir into the bundle (as runc does: relative paths in the spec are relative to
    it), then read and convert config.json."""
    bundle = os.path.abspath(bundle or ".")
    try:
        os.chdir(bundle)
    except OSError as e:
        raise OSError(e.errno, f"chdir {bundle}: {(e.strerror or '').lower()}") from None
    spec = load_spec(bundle)
    return spec, spec_to_config(spec, bundle)


def add_id(p: Any) -> None:
    """The <container-id> positional."""
    p.add_argument("container_id", metavar="container-id")

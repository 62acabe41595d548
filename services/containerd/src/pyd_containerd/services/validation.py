"""pyd-containerd's own request rules, applied at the gRPC edge before a service runs
(pyd_proto.validation applies the generic ones: parse errors, wrong wire types, NUL
bytes, oversized strings). Keyed by full method name; each raises InvalidArgument.

Container ids, namespaces and digests are checked where they are used (identifiers,
content); the rules here cover values that become paths and that no store checks.
"""

from __future__ import annotations

import os
from typing import Any

from pyd_containerd import identifiers
from pyd_proto.errdefs import InvalidArgument
from pyd_proto.validation import Rule, shown


def _exec_id(request: Any) -> None:
    # The shim keeps an exec's files in <bundle>/exec-<exec id>: the id is a path part.
    identifiers.validate(request.exec_id)


def _absolute(field: str) -> Rule:
    def rule(request: Any) -> None:
        value = getattr(request, field)
        if value and not os.path.isabs(value):
            raise InvalidArgument(f"{field} {shown(value)} must be an absolute path")
    return rule


_TASKS = "/containerd.services.tasks.v1.Tasks/"

RULES: dict[str, Rule] = {
    _TASKS + "Exec": _exec_id,
    _TASKS + "Create": _absolute("checkpoint_dir"),
    _TASKS + "Checkpoint": _absolute("image_path"),
}

"""pyd-dockerd's own request rules, applied at the gRPC edge before a handler runs
(pyd_proto.validation applies the generic ones: parse errors, wrong wire types, NUL
bytes, oversized strings). Keyed by full method name; each raises InvalidArgument.

Names and ids a handler only looks up need no rule (an unknown one is NOT_FOUND, as
Docker answers); the rules here guard values that become paths on this host.
"""

from __future__ import annotations

import os
from typing import Any

from pyd_proto.errdefs import InvalidArgument
from pyd_proto.validation import Rule, shown


def _checkpoint_dir(request: Any) -> None:
    # A relative directory would be resolved against dockerd's working directory, which
    # no client knows: moby's CLI passes what the user typed, so refuse it here.
    value = request.checkpoint_dir
    if value and not os.path.isabs(value):
        raise InvalidArgument(f"checkpoint-dir {shown(value)} must be an absolute path")


_CONTAINERS = "/pyd.dockerd.v1.Containers/"
_CHECKPOINTS = "/pyd.dockerd.v1.Checkpoints/"

RULES: dict[str, Rule] = {
    _CONTAINERS + "Start": _checkpoint_dir,
    **{_CHECKPOINTS + m: _checkpoint_dir for m in ("Create", "List", "Remove", "Export")},
}

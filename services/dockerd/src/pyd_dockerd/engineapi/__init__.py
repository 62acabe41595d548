"""The Docker Engine REST API over pyd-dockerd's core (moby's api/server): the docker
CLI, docker-py and other Docker clients talk to pyd on a unix socket of its own.

`server` runs an aiohttp application in a thread of its own; `router/` holds one module
per area as moby's api/server/router/ does, each parsing requests and calling the same
daemon core the gRPC servicers in `pyd_dockerd.api` call; `httputils/` holds what they
share (errors, form values, streams, connection hijacking, stdcopy framing).
"""

from __future__ import annotations

# The newest Engine API version pyd answers (Docker 27's), and the oldest it accepts:
# docker 28's CLI and docker-py 7 negotiate down to it; Debian's docker-cli 26 (1.45)
# is below it and used as is.
API_VERSION = "1.47"
MIN_API_VERSION = "1.24"

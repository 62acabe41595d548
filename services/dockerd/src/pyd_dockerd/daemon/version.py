"""What `pyd version` shows of the server: engine, containerd, runtime, CRIU."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field

from pyd_dockerd import __version__
from pyd_dockerd.daemon.daemon import Daemon
from pyd_proto.errdefs import PydError
from pyd_proto.pyd.dockerd.v1 import API_VERSION, MIN_API_VERSION

GIT_COMMIT = os.environ.get("PYD_GIT_COMMIT", "unknown")


@dataclass
class ComponentVersion:
    name: str
    version: str
    details: dict[str, str] = field(default_factory=dict)


@dataclass
class ServerVersion:
    version: str
    api_version: str
    min_api_version: str
    git_commit: str
    python_version: str
    os: str
    arch: str
    kernel_version: str
    components: list[ComponentVersion]


def server_version(daemon: Daemon) -> ServerVersion:
    """Versions of every server-side component; one that cannot answer says why."""
    engine = ComponentVersion("Engine", __version__, {
        "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": GIT_COMMIT, "PythonVersion": platform.python_version(),
        "Os": "linux", "Arch": _arch(), "KernelVersion": platform.release(),
        "Experimental": "true"})
    try:
        cd_version, cd_revision = daemon.containerd.version()
        containerd = ComponentVersion("containerd", cd_version, {"GitCommit": cd_revision})
    except PydError as e:
        containerd = ComponentVersion("containerd", "", {"Error": str(e)})
    rt = daemon.components.get("runtime")
    runtime = ComponentVersion(rt.details.get("Name", "runc"), rt.version,
                               {"GitCommit": rt.details.get("Commit", ""), "Path": rt.path,
                                **({"Error": rt.error} if rt.error else {})})
    criu = daemon.components.get("criu")
    criu_v = ComponentVersion("criu", criu.version,
                              {"Path": criu.path, **({"Error": criu.error} if criu.error else {})})
    return ServerVersion(
        version=__version__, api_version=API_VERSION, min_api_version=MIN_API_VERSION,
        git_commit=GIT_COMMIT, python_version=platform.python_version(), os="linux",
        arch=_arch(), kernel_version=platform.release(),
        components=[engine, containerd, runtime, criu_v])


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


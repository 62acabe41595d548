"""The container object (moby's container/container.go): identity, the user's Config
and HostConfig in Docker's JSON shape, what the daemon assigned (NetworkSettings,
Mounts), its State, and where its files live. No I/O beyond path arithmetic: the
store persists it, the daemon acts on it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyd_dockerd.container.state import State, Status
from pyd_proto.errdefs import FailedPrecondition


@dataclass
class Container:
    id: str
    name: str                      # without the leading "/"
    image: str = ""                # image id ("sha256:...")
    config: dict[str, Any] = field(default_factory=dict)       # Docker's Config JSON
    host_config: dict[str, Any] = field(default_factory=dict)  # Docker's HostConfig JSON
    state: State = field(default_factory=State)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    path: str = ""                 # the process's argv[0] (inspect "Path")
    args: list[str] = field(default_factory=list)
    # Docker's NetworkSettings JSON, filled by the network controller on start.
    network_settings: dict[str, Any] = field(default_factory=dict)
    # Docker's MountPoint list ("Mounts" in inspect).
    mounts: list[dict[str, Any]] = field(default_factory=list)
    restart_count: int = 0
    # Set by `stop`/`kill` from the user; unless-stopped and dockerd start honour it.
    manually_stopped: bool = False
    driver: str = "overlayfs"
    platform: str = "linux"
    # Where dockerd keeps this container's files (root/containers/<id>); set by the store.
    root: str = ""

    # --- identity ----------------------------------------------------------------
    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def display_name(self) -> str:
        """The name as Docker shows it in inspect and messages: "/name"."""
        return "/" + self.name

    # --- files -------------------------------------------------------------------
    def file(self, name: str) -> str:
        return os.path.join(self.root, name)

    @property
    def hosts_path(self) -> str:
        return self.file("hosts")

    @property
    def resolv_conf_path(self) -> str:
        return self.file("resolv.conf")

    @property
    def hostname_path(self) -> str:
        return self.file("hostname")

    @property
    def log_path(self) -> str:
        return self.file(f"{self.id}-json.log")

    @property
    def checkpoint_dir(self) -> str:
        return self.file("checkpoints")

    # --- config accessors used by networking and volumes -------------------------
    @property
    def hostname(self) -> str:
        return str(self.config.get("Hostname") or self.short_id)

    @property
    def domainname(self) -> str:
        return str(self.config.get("Domainname") or "")

    @property
    def network_mode(self) -> str:
        """bridge | host | none | container:<ref> | <network name>; "" and "default" mean
        the default bridge."""
        mode = str(self.host_config.get("NetworkMode") or "")
        return "bridge" if mode in ("", "default") else mode

    @property
    def port_bindings(self) -> dict[str, list[dict[str, str]]]:
        """"80/tcp" → [{"HostIp": ..., "HostPort": ...}], as HostConfig holds them."""
        raw = self.host_config.get("PortBindings") or {}
        return {k: list(v or []) for k, v in raw.items()}

    @property
    def restart_policy(self) -> tuple[str, int]:
        rp = self.host_config.get("RestartPolicy") or {}
        return str(rp.get("Name") or "no"), int(rp.get("MaximumRetryCount") or 0)

    @property
    def auto_remove(self) -> bool:
        return bool(self.host_config.get("AutoRemove"))

    # --- state rules with Docker's messages ---------------------------------------
    def check_can_start(self) -> None:
        """Raise Docker's error when the container cannot start; a running container
        passes (Docker answers 304 Not Modified: the caller does nothing)."""
        s = self.state.status
        if s is Status.PAUSED:
            raise FailedPrecondition("cannot start a paused container, try unpause instead")
        if s in (Status.REMOVING, Status.DEAD):
            raise FailedPrecondition(
                f"container {self.short_id}: container is marked for removal and cannot "
                "be started")
        if not s.can_start() and s is not Status.RUNNING:
            raise FailedPrecondition(f"container {self.short_id} is {s.value}")

    def check_can_remove(self, force: bool) -> None:
        s = self.state.status
        if s is Status.REMOVING:
            raise FailedPrecondition(
                f"removal of container {self.short_id} is already in progress")
        if s.is_running() and not force:
            if s is Status.PAUSED:
                msg = ("container is paused and must be unpaused first")
            elif s is Status.RESTARTING:
                msg = ("container is restarting: stop the container before removing or "
                       "force remove")
            else:
                msg = "container is running: stop the container before removing or force remove"
            raise FailedPrecondition(f'cannot remove container "{self.display_name}": {msg}')

    def check_can_exec(self) -> None:
        s = self.state.status
        if s is Status.PAUSED:
            raise FailedPrecondition(f"Container {self.id} is paused, unpause the container "
                                     "before exec")
        if s is Status.RESTARTING:
            raise FailedPrecondition(f"Container {self.id} is restarting, wait until the "
                                     "container is running")
        if not s.can_exec():
            raise FailedPrecondition(f"container {self.id} is not running")

    def check_can_kill(self) -> None:
        s = self.state.status
        if s is Status.RESTARTING:
            raise FailedPrecondition(f"Cannot kill container: {self.short_id}: Container "
                                     f"{self.id} is restarting, wait until the container "
                                     "is running")
        if not s.can_kill():
            raise FailedPrecondition(f"Cannot kill container: {self.short_id}: Container "
                                     f"{self.id} is not running")

    def check_can_pause(self) -> None:
        s = self.state.status
        if s is Status.PAUSED:
            raise FailedPrecondition(f"Container {self.id} is already paused")
        if s is Status.RESTARTING:
            raise FailedPrecondition(f"Container {self.id} is restarting, wait until the "
                                     "container is running")
        if not s.can_pause():
            raise FailedPrecondition(f"Container {self.id} is not running")

    def check_can_unpause(self) -> None:
        if not self.state.status.can_unpause():
            raise FailedPrecondition(f"Container {self.id} is not paused")

    def check_can_checkpoint(self) -> None:
        if not self.state.status.can_checkpoint():
            raise FailedPrecondition(f"Container {self.id} is not running")

    def check_can_restore(self) -> None:
        if not self.state.status.can_restore():
            raise FailedPrecondition(
                f"container {self.short_id} is {self.state.status.value}: a checkpoint can "
                "only be restored into a stopped or created container")

    # --- Docker's inspect shape --------------------------------------------------
    def to_inspect(self) -> dict[str, Any]:
        """The container as `docker inspect` shows it (Docker's JSON keys)."""
        return {
            "Id": self.id,
            "Created": self.created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "Path": self.path, "Args": list(self.args), "State": self.state.to_dict(),
            "Image": self.image, "ResolvConfPath": self.resolv_conf_path,
            "HostnamePath": self.hostname_path, "HostsPath": self.hosts_path,
            "LogPath": self.log_path, "Name": self.display_name,
            "RestartCount": self.restart_count, "Driver": self.driver,
            "Platform": self.platform, "HostConfig": self.host_config,
            "Mounts": list(self.mounts), "Config": self.config,
            "NetworkSettings": self.network_settings,
        }

"""`docker create` (moby daemon/create.go): merge the image's defaults into the user's
config, reserve the name, prepare the rootfs snapshot. Nothing is left behind when a
step fails."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from typing import TYPE_CHECKING, Any

from pyd_dockerd.container.container import Container
from pyd_dockerd.volumes import service as volume_service
from pyd_proto.errdefs import InvalidArgument, NotFound

if TYPE_CHECKING:
    from pyd_dockerd.daemon.daemon import Daemon

log = logging.getLogger("pyd.dockerd.create")

RESTART_POLICIES = ("", "no", "always", "unless-stopped", "on-failure")


def merge_image_config(config: dict[str, Any], image: dict[str, Any]) -> dict[str, Any]:
    """Docker's rules: an Entrypoint from the user drops the image's Cmd; empty fields
    take the image's; Env is the image's with the user's overriding per key."""
    out = dict(config)
    # --entrypoint "" arrives as [""]: it clears the image's entrypoint (and Cmd, unless
    # the user gave one), as Docker does.
    cleared = config.get("Entrypoint") == [""]
    user_entrypoint = bool(config.get("Entrypoint"))
    if cleared:
        out["Entrypoint"] = []
    elif not out.get("Entrypoint"):
        out["Entrypoint"] = image.get("Entrypoint") or []
    if not out.get("Cmd") and not user_entrypoint:
        out["Cmd"] = image.get("Cmd") or []
    env: dict[str, str] = {}
    for item in [*(image.get("Env") or []), *(config.get("Env") or [])]:
        key, _, _ = item.partition("=")
        env[key] = item
    out["Env"] = list(env.values())
    for key in ("WorkingDir", "User", "StopSignal"):
        if not out.get(key) and image.get(key):
            out[key] = image[key]
    labels = dict(image.get("Labels") or {})
    labels.update(config.get("Labels") or {})
    out["Labels"] = labels
    if not out.get("ExposedPorts") and image.get("ExposedPorts"):
        out["ExposedPorts"] = image["ExposedPorts"]
    return out


def validate_host_config(hc: dict[str, Any]) -> None:
    policy = (hc.get("RestartPolicy") or {}).get("Name", "")
    if policy not in RESTART_POLICIES:
        raise InvalidArgument(f"invalid restart policy '{policy}'")
    if hc.get("AutoRemove") and policy not in ("", "no"):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    if int(hc.get("Memory") or 0) and int(hc.get("Memory") or 0) < 6 * 1024 * 1024:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if int(hc.get("NanoCpus") or 0) < 0:
        raise InvalidArgument("Range of CPUs is from 0.01 to the number of CPUs available")


def create(d: Daemon, name: str, config: dict[str, Any], host_config: dict[str, Any],
           endpoints: dict[str, dict[str, Any]] | None = None) -> Container:
    """Create the container record and its rootfs; returns it in state `created`."""
    ref = config.get("Image") or ""
    if not ref:
        raise InvalidArgument("No image was specified")
    try:
        image = d.images.get(ref)
    except NotFound:
        raise NotFound(f"No such image: {ref}") from None
    validate_host_config(host_config)
    merged = merge_image_config(config, image.run_config)
    merged["Image"] = ref
    argv = [*(merged.get("Entrypoint") or []), *(merged.get("Cmd") or [])]
    if not argv:
        raise InvalidArgument("no command specified")
    if not merged.get("Hostname"):
        merged["Hostname"] = ""  # filled with the short id below
    c = Container(id="", name=name, image=image.id, config=merged, host_config=host_config,
                  path=argv[0], args=argv[1:])
    c = d.containers.create(c)  # reserves the name, assigns id and root
    if not merged["Hostname"]:
        c.config["Hostname"] = c.id[:12]
    snapshot = False
    try:
        os.makedirs(c.root, mode=0o710, exist_ok=True)
        d.containerd.prepare_snapshot(c.id, image.chain_id)
        snapshot = True
        points = volume_service.resolve_mounts(c.id, c.config, c.host_config, d.volumes)
        c.mounts = [mp.to_json() for mp in points]
        d.network.create_endpoints(c, endpoints)
        d.containers.save(c)
    except BaseException:
        with contextlib.suppress(Exception):
            d.volumes.release_container(c.id, remove_anonymous=True)
        with contextlib.suppress(Exception):
            d.network.remove_endpoints(c)
        if snapshot:
            with contextlib.suppress(Exception):
                d.containerd.remove_snapshot(c.id)
        shutil.rmtree(c.root, ignore_errors=True)
        d.containers.delete(c.id)
        raise
    d.events.emit("container", "create", c.id, {"name": c.name, "image": ref})
    log.info("created", extra={"id": c.id, "container_name": c.name, "image": ref})
    return c

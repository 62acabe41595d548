"""Docker's JSON shapes ↔ the pyd.dockerd.v1 messages. Messages map to Docker's keys
through their json_names, except where proto3 cannot say what Docker's JSON says:
a map of lists (PortBindings, NetworkSettings.Ports: wrapped as {"items": [...]}) and
HostConfig's Resources, which Docker inlines in HostConfig."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

RESOURCES = ("CpuShares", "Memory", "NanoCpus", "CgroupParent", "BlkioWeight",
             "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps",
             "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuPeriod", "CpuQuota",
             "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems", "Devices",
             "DeviceCgroupRules", "MemoryReservation", "MemorySwap", "MemorySwappiness",
             "OomKillDisable", "PidsLimit", "Ulimits")


def _unwrap(m: dict[str, Any] | None) -> dict[str, Any]:
    return {k: list((v or {}).get("items") or []) for k, v in (m or {}).items()}


def _wrap(m: dict[str, Any] | None) -> dict[str, Any]:
    return {k: {"items": list(v or [])} for k, v in (m or {}).items()}


def host_config_from_pb(msg: Any) -> dict[str, Any]:
    """A HostConfig message → Docker's HostConfig JSON (Resources inlined)."""
    d = json_format.MessageToDict(msg)
    d.update(d.pop("Resources", None) or {})
    if "PortBindings" in d:
        d["PortBindings"] = _unwrap(d["PortBindings"])
    return d


def host_config_to_pb_dict(hc: dict[str, Any]) -> dict[str, Any]:
    """Docker's HostConfig JSON → the dict the HostConfig message parses from."""
    d = {k: v for k, v in hc.items() if k not in RESOURCES}
    res = {k: hc[k] for k in RESOURCES if k in hc}
    if res:
        d["Resources"] = res
    if "PortBindings" in d:
        d["PortBindings"] = _wrap(d["PortBindings"])
    return d


def inspect_to_pb_dict(doc: dict[str, Any]) -> dict[str, Any]:
    """`docker inspect` JSON → the dict the ContainerJSON message parses from."""
    out = dict(doc)
    out["HostConfig"] = host_config_to_pb_dict(doc.get("HostConfig") or {})
    ns = dict(doc.get("NetworkSettings") or {})
    if "Ports" in ns:
        ns["Ports"] = _wrap(ns["Ports"])
    out["NetworkSettings"] = ns
    return out

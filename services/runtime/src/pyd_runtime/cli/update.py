"""update: change a container's cgroup limits (flags, or -r resources.json / -r -)."""

from __future__ import annotations

import sys

from pyd_runtime import fastjson
from pyd_runtime.cli._common import container
from pyd_runtime.libcontainer.container import STOPPED, InvalidState

# typing is imported only by type checkers: it costs start-up time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyd_runtime.flags import FlagParser, Namespace

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(s: str) -> int:
    """docker/go-units RAMInBytes: ``512m``, ``1GiB``, ``1024``; ``-1`` means unlimited."""
    t = s.strip().lower()
    if t == "-1":
        return -1
    for suffix in ("ib", "b"):
        if t.endswith(suffix) and len(t) > len(suffix):
            t = t[: -len(suffix)]
            break
    unit = ""
    if t and t[-1] in _UNITS:
        unit, t = t[-1], t[:-1]
    try:
        return int(float(t) * _UNITS[unit])
    except ValueError:
        raise ValueError(f"invalid value {s!r}: not a size") from None


def add_arguments(p: FlagParser) -> None:
    """Flags of ``runc update``."""
    p.add_argument("--resources", "-r", default="", help="path to the file containing the "
                   "resources to update or '-' to read from the standard input")
    p.add_argument("--memory", default="", help="memory limit (in bytes or with a unit)")
    p.add_argument("--memory-swap", default="", help="total memory usage (memory + swap)")
    p.add_argument("--memory-reservation", default="", help="memory reservation or soft "
                   "limit")
    p.add_argument("--kernel-memory", default="", help="accepted; ignored")
    p.add_argument("--kernel-memory-tcp", default="", help="accepted; ignored")
    p.add_argument("--cpu-share", "--cpu-shares", dest="cpu_shares", default="",
                   help="CPU shares (relative weight vs. other containers)")
    p.add_argument("--cpu-quota", default="", help="CPU CFS hardcap limit (in usecs)")
    p.add_argument("--cpu-period", default="", help="CPU CFS period to be used for "
                   "hardcapping (in usecs)")
    p.add_argument("--cpu-rt-period", default="", help="accepted; ignored")
    p.add_argument("--cpu-rt-runtime", default="", help="accepted; ignored")
    p.add_argument("--cpuset-cpus", default="", help="CPU(s) to use")
    p.add_argument("--cpuset-mems", default="", help="memory node(s) to use")
    p.add_argument("--pids-limit", default="", help="maximum number of pids allowed in the "
                   "container")
    p.add_argument("--blkio-weight", default="", help="accepted; ignored")
    p.add_argument("--l3-cache-schema", default="", help="accepted; ignored")
    p.add_argument("--mem-bw-schema", default="", help="accepted; ignored")
    p.add_argument("container_id", metavar="container-id")


def _int(flag: str, v: str) -> int:
    try:
        return int(v)
    except ValueError:
        raise ValueError(f"invalid value for {flag}: {v!r}") from None


def merge(spec_res: dict[str, Any], args: Namespace) -> dict[str, Any]:
    """The container's new linux.resources: the saved one, overlaid by -r then flags."""
    res: dict[str, Any] = fastjson.loads(fastjson.dumps(spec_res))  # deep copy
    if args.resources:
        if args.resources == "-":
            raw = sys.stdin.read()
        else:
            with open(args.resources) as f:
                raw = f.read()
        try:
            upd = fastjson.loads(raw)
        except ValueError as e:
            raise ValueError(f"unable to parse resources: {e}") from None
        for k, v in (upd or {}).items():
            if isinstance(v, dict) and isinstance(res.get(k), dict):
                res[k].update(v)
            else:
                res[k] = v
    mem = res.setdefault("memory", {})
    cpu = res.setdefault("cpu", {})
    pids = res.setdefault("pids", {})
    if args.memory:
        mem["limit"] = ram_in_bytes(args.memory)
    if args.memory_swap:
        mem["swap"] = ram_in_bytes(args.memory_swap)
    if args.memory_reservation:
        mem["reservation"] = ram_in_bytes(args.memory_reservation)
    if args.cpu_shares:
        cpu["shares"] = _int("--cpu-shares", args.cpu_shares)
    if args.cpu_quota:
        cpu["quota"] = _int("--cpu-quota", args.cpu_quota)
    if args.cpu_period:
        cpu["period"] = _int("--cpu-period", args.cpu_period)
    if args.cpuset_cpus:
        cpu["cpus"] = args.cpuset_cpus
    if args.cpuset_mems:
        cpu["mems"] = args.cpuset_mems
    if args.pids_limit:
        pids["limit"] = _int("--pids-limit", args.pids_limit)
    return res


def run(args: Namespace, g: Any) -> int:
    """Write the new limits and remember them in the state."""
    from pyd_runtime.specconv import Resources, parse_resources

    c = container(g, args.container_id)
    if c.status() == STOPPED:
        raise InvalidState("container not running")
    spec = c.state.setdefault("config", {})
    linux = spec.setdefault("linux", {})
    new = merge(linux.get("resources") or {}, args)
    res = parse_resources(new)
    # Devices are set at create only (as runc's update does not take them).
    upd = Resources()
    for k in Resources.__slots__:
        if k != "devices":
            setattr(upd, k, getattr(res, k))
    c.cgroup_manager().set(upd)
    linux["resources"] = new
    c.save()
    return 0

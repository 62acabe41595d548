"""The kernel side of the bridge driver (libnetwork's drivers/bridge + osl): network
namespaces kept as bind-mounted files, the Linux bridge, veth pairs with one end in
a container's namespace, addresses and routes — all through netlink (pyroute2).
No policy here: what to create is decided by the controller."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import secrets
import threading
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

from pyd_proto.errdefs import FailedPrecondition, InvalidArgument

IFNAMSIZ = 15


def _ipr() -> Any:
    from pyroute2 import IPRoute

    return IPRoute()


@contextlib.contextmanager
def _netns(path: str) -> Iterator[Any]:
    """A netlink socket inside the namespace at `path` (never creating it). The socket
    is made by this thread while it is inside the namespace and stays bound to it, which
    is several times cheaper than pyroute2's NetNS helper process."""
    if not os.path.exists(path):
        raise FailedPrecondition(f"network namespace {path} does not exist")
    with entered(path):
        ipr = _ipr()
    try:
        yield ipr
    finally:
        ipr.close()


def valid_ifname(name: str) -> str:
    if not name or len(name) > IFNAMSIZ or "/" in name or any(c.isspace() for c in name):
        raise InvalidArgument(f"invalid interface name {name!r}: 1 to {IFNAMSIZ} "
                              "characters, no '/' or spaces")
    return name


# --------------------------------------------------------------- namespaces

MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20
CLONE_NEWNET = 0x40000000


def _libc() -> Any:
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _ensure_shared_dir(d: str) -> None:
    """Make `d` a shared mount of itself (as `ip netns` does with /run/netns), so the
    namespace files mounted in it come and go in every mount namespace at once."""
    import ctypes

    libc = _libc()
    if libc.mount(b"", d.encode(), b"none", MS_SHARED | MS_REC, None) == 0:
        return
    if ctypes.get_errno() != errno.EINVAL:
        raise OSError(ctypes.get_errno(), f"make {d} shared: {os.strerror(ctypes.get_errno())}")
    if libc.mount(d.encode(), d.encode(), b"none", MS_BIND | MS_REC, None) != 0 or \
            libc.mount(b"", d.encode(), b"none", MS_SHARED | MS_REC, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"make {d} a shared mount: {os.strerror(err)}")


def release_dir(d: str) -> bool:
    """Unmount the shared mount `_ensure_shared_dir` made, if no namespace file is left."""
    if not os.path.isdir(d) or os.listdir(d) or not os.path.ismount(d):
        return False
    return bool(_libc().umount2(d.encode(), 2) == 0)


def create_netns(path: str) -> str:
    """A new network namespace kept alive by a bind mount at `path`, loopback up.

    A short-lived thread unshares its network namespace and bind-mounts it
    (namespaces are per thread), as libnetwork does on a locked OS thread."""
    import ctypes

    d = os.path.dirname(path)
    os.makedirs(d, mode=0o711, exist_ok=True)
    _ensure_shared_dir(d)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    os.close(fd)
    errors: list[str] = []

    def make() -> None:
        libc = _libc()
        if libc.unshare(CLONE_NEWNET) != 0:
            errors.append(f"unshare: {os.strerror(ctypes.get_errno())}")
            return
        if libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", MS_BIND,
                      None) != 0:
            errors.append(f"bind mount: {os.strerror(ctypes.get_errno())}")

    worker = threading.Thread(target=make, name="netns-create")
    worker.start()
    worker.join()
    if errors:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise OSError(f"cannot create network namespace {path}: {errors[0]}")
    loopback_up(path)
    return path


def remove_netns(path: str) -> None:
    """Unmount and delete a namespace file made by `create_netns` (missing: no-op)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.umount2(path.encode(), 2)  # MNT_DETACH
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def loopback_up(netns_path: str) -> None:
    with _netns(netns_path) as ns:
        idx = ns.link_lookup(ifname="lo")
        if idx:
            ns.link("set", index=idx[0], state="up")


def netns_path_of_pid(pid: int) -> str:
    return f"/proc/{pid}/ns/net"


# ------------------------------------------------------------------ sysctls

def set_sysctl(key: str, value: str) -> None:
    """Write net.ipv4.ip_forward-style keys for this thread's network namespace."""
    path = "/proc/sys/" + key.replace(".", "/")
    with open(path, "w") as f:
        f.write(value)


def get_sysctl(key: str) -> str:
    with open("/proc/sys/" + key.replace(".", "/")) as f:
        return f.read().strip()


def enable_ip_forward() -> None:
    if get_sysctl("net.ipv4.ip_forward") != "1":
        set_sysctl("net.ipv4.ip_forward", "1")


# ------------------------------------------------------------------- bridge

def link_exists(name: str) -> bool:
    with _ipr() as ipr:
        return bool(ipr.link_lookup(ifname=name))


def link_kind(name: str) -> str | None:
    """The link's kind ("bridge", "veth", "" for a physical device); None if absent."""
    with _ipr() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return None
        link = ipr.get_links(found[0])[0]
        info = link.get_attr("IFLA_LINKINFO")
        return str(info.get_attr("IFLA_INFO_KIND") or "") if info else ""


def ensure_bridge(name: str, gateway: IPv4Interface | None, *, mtu: int = 1500) -> int:
    """Create (or adopt) bridge `name` with `gateway` as its address, up; returns its index.

    Loopback-published ports are DNATed to containers behind this bridge, so the
    bridge routes 127/8 sources (route_localnet), as Docker does without its proxy.
    """
    valid_ifname(name)
    kind = link_kind(name)
    if kind is not None and kind != "bridge":
        raise FailedPrecondition(f"cannot use {name} as a bridge: an interface of that name "
                                 f"exists and is not a bridge ({kind or 'device'})")
    with _ipr() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            try:
                ipr.link("add", ifname=name, kind="bridge")
            except Exception as e:  # NetlinkError: a race with another creator
                if getattr(e, "code", None) != errno.EEXIST:
                    raise
            found = ipr.link_lookup(ifname=name)
        idx = int(found[0])
        ipr.link("set", index=idx, mtu=mtu)
        if gateway is not None:
            have = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"])
                    for a in ipr.get_addr(index=idx, family=2)}
            if (str(gateway.ip), gateway.network.prefixlen) not in have:
                ipr.addr("add", index=idx, address=str(gateway.ip),
                         prefixlen=gateway.network.prefixlen)
        ipr.link("set", index=idx, state="up")
    with contextlib.suppress(OSError):
        set_sysctl(f"net.ipv4.conf.{name}.route_localnet", "1")
    return idx


def delete_bridge(name: str) -> bool:
    """Delete `name` only if it is a bridge (never a host device a record misnames)."""
    if link_kind(name) != "bridge":
        return False
    return delete_link(name)


def delete_veth(name: str) -> bool:
    """Delete the host side of a container's veth pair (and so its peer), if it is one."""
    if link_kind(name) != "veth":
        return False
    return delete_link(name)


def delete_link(name: str) -> bool:
    """Delete interface `name` (a bridge, or a veth and so its peer); False if absent."""
    with _ipr() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return False
        with contextlib.suppress(Exception):
            ipr.link("del", index=found[0])
        return True


def links_with_prefix(prefix: str) -> list[str]:
    with _ipr() as ipr:
        return [str(link.get_attr("IFLA_IFNAME")) for link in ipr.get_links()
                if str(link.get_attr("IFLA_IFNAME") or "").startswith(prefix)]


# --------------------------------------------------------------------- veth

def random_veth_name() -> str:
    """Docker's host-side name shape: "veth" + 7 hex digits."""
    return "veth" + secrets.token_hex(4)[:7]


def mac_for_ip(ip: IPv4Address) -> str:
    """Docker's generated MAC: 02:42 followed by the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)


def create_veth(*, host_ifname: str, bridge: str, netns_path: str, ifname: str,
                address: IPv4Interface, mac: str, gateway: IPv4Address | None,
                mtu: int = 1500) -> None:
    """A veth pair: `host_ifname` enslaved to `bridge` here, `ifname` in the namespace at
    `netns_path` with `address`, `mac`, up, and (if `gateway`) the default route."""
    valid_ifname(host_ifname)
    valid_ifname(ifname)
    fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with _ipr() as ipr:
            br = ipr.link_lookup(ifname=bridge)
            if not br:
                raise FailedPrecondition(f"bridge {bridge} does not exist")
            ipr.link("add", ifname=host_ifname, kind="veth", mtu=mtu,
                     peer={"ifname": ifname, "net_ns_fd": fd, "mtu": mtu})
            try:
                idx = ipr.link_lookup(ifname=host_ifname)[0]
                ipr.link("set", index=idx, master=br[0], state="up")
                # Hairpin: a container reaching its own published port through the
                # host's address gets the DNATed packet back on the same port.
                with contextlib.suppress(Exception):
                    ipr.brport("set", index=idx, mode=1)
            except Exception:
                delete_link(host_ifname)
                raise
    finally:
        os.close(fd)
    try:
        with _netns(netns_path) as ns:
            idx = ns.link_lookup(ifname=ifname)[0]
            ns.link("set", index=idx, address=mac)
            ns.addr("add", index=idx, address=str(address.ip),
                    prefixlen=address.network.prefixlen)
            ns.link("set", index=idx, state="up")
            lo = ns.link_lookup(ifname="lo")
            if lo:
                ns.link("set", index=lo[0], state="up")
            if gateway is not None:
                ns.route("replace", dst="0.0.0.0/0", gateway=str(gateway))
    except Exception:
        delete_link(host_ifname)
        raise


def remove_interface_in_netns(netns_path: str, ifname: str) -> None:
    """Delete `ifname` inside a namespace (disconnect of a running container)."""
    if not os.path.exists(netns_path):
        return
    with contextlib.suppress(Exception), _netns(netns_path) as ns:
        found = ns.link_lookup(ifname=ifname)
        if found:
            ns.link("del", index=found[0])


def interfaces_in_netns(netns_path: str) -> dict[str, list[str]]:
    """ifname → its IPv4 addresses in CIDR form (inspection and tests)."""
    out: dict[str, list[str]] = {}
    with _netns(netns_path) as ns:
        names = {link["index"]: str(link.get_attr("IFLA_IFNAME")) for link in ns.get_links()}
        for n in names.values():
            out[n] = []
        for a in ns.get_addr(family=2):
            out.setdefault(names.get(a["index"], "?"), []).append(
                f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
    return out


def host_ip_of_bridge(name: str) -> list[IPv4Interface]:
    with _ipr() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return []
        return [ipaddress.IPv4Interface(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
                for a in ipr.get_addr(index=found[0], family=2)]


@contextlib.contextmanager
def entered(netns_path: str) -> Iterator[None]:
    """Run the calling thread inside the namespace at `netns_path` for the block
    (namespaces are per thread; sockets and subprocesses made meanwhile belong there)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    clone_newnet = 0x40000000

    def setns(fd: int) -> None:
        if libc.setns(fd, clone_newnet) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns: {os.strerror(err)}")

    back = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            setns(back)
    finally:
        os.close(back)

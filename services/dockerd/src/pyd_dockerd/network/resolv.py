"""A container's /etc/hosts, /etc/resolv.conf and /etc/hostname (libnetwork's
etchosts and resolvconf packages), kept under the container's directory and
bind-mounted into it by the start path.

Name resolution between containers on a user network is done through /etc/hosts,
not an embedded DNS server: each container's hosts file lists its peers (name,
aliases, short id) on every user network it shares with them, and the files are
rewritten on connect, disconnect, start and stop. Rewrites truncate the same file
(never rename over it) so a running container's bind mount sees the new content.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable

DEFAULT_HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)
# Used when the host's resolv.conf names only local resolvers a container cannot reach.
DEFAULT_NAMESERVERS = ("8.8.8.8", "8.8.4.4")


def write_in_place(path: str, content: str) -> None:
    """Replace the file's content keeping its inode (bind mounts follow inodes)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(content)


def hostname_content(hostname: str) -> str:
    return hostname + "\n"


def parse_extra_hosts(extra: Iterable[str]) -> list[tuple[str, str]]:
    """`--add-host name:ip` (also name=ip) → (ip, name) pairs."""
    out = []
    for item in extra:
        sep = "=" if "=" in item else ":"
        name, _, ip = item.partition(sep)
        ip = ip.strip("[]")
        if not name or not ip:
            raise ValueError(f"bad format for add-host: {item!r}")
        out.append((ip, name))
    return out


def hosts_content(*, hostname: str, domainname: str = "", addresses: Iterable[str] = (),
                  aliases: Iterable[str] = (), peers: Iterable[tuple[str, list[str]]] = (),
                  extra_hosts: Iterable[str] = ()) -> str:
    """Docker's default entries, --add-host lines, this container's own addresses with
    its hostname (and aliases), then one line per peer on shared user networks."""
    lines = [DEFAULT_HOSTS]
    for ip, name in parse_extra_hosts(extra_hosts):
        lines.append(f"{ip}\t{name}\n")
    own = [f"{hostname}.{domainname}", hostname] if domainname else [hostname]
    own += [a for a in aliases if a not in own]
    for ip in addresses:
        lines.append(f"{ip}\t{' '.join(own)}\n")
    seen: set[tuple[str, str]] = set()
    for ip, names in peers:
        key = (ip, " ".join(names))
        if key in seen or not names:
            continue
        seen.add(key)
        lines.append(f"{ip}\t{' '.join(names)}\n")
    return "".join(lines)


def host_hosts_content(hostname: str) -> str:
    """--network host: the host's own /etc/hosts (Docker copies it)."""
    try:
        with open("/etc/hosts") as f:
            return f.read()
    except OSError:
        return DEFAULT_HOSTS + f"127.0.1.1\t{hostname}\n"


def _is_local(ns: str) -> bool:
    try:
        return ipaddress.ip_address(ns.split("%")[0]).is_loopback
    except ValueError:
        return False


def resolv_conf_content(*, host_resolv: str = "/etc/resolv.conf", dns: Iterable[str] = (),
                        dns_search: Iterable[str] = (), dns_options: Iterable[str] = (),
                        host_network: bool = False) -> str:
    """The host's resolv.conf with loopback nameservers removed (they are not reachable
    from a container's namespace), Google's as a fallback; --dns/--dns-search/
    --dns-option replace the respective parts, as in Docker."""
    try:
        with open(host_resolv) as f:
            text = f.read()
    except OSError:
        text = ""
    nameservers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0].startswith(("#", ";")):
            continue
        if parts[0] == "nameserver" and len(parts) > 1:
            nameservers.append(parts[1])
        elif parts[0] in ("search", "domain"):
            search = parts[1:]
        elif parts[0] == "options":
            options += parts[1:]
    dns, dns_search, dns_options = list(dns), list(dns_search), list(dns_options)
    if dns:
        nameservers = dns
    elif not host_network:
        nameservers = [n for n in nameservers if not _is_local(n)] or list(DEFAULT_NAMESERVERS)
    if dns_search:
        search = [] if dns_search == ["."] else dns_search
    if dns_options:
        options = dns_options
    out = [f"nameserver {n}\n" for n in nameservers]
    if search:
        out.append(f"search {' '.join(search)}\n")
    if options:
        out.append(f"options {' '.join(options)}\n")
    return "".join(out)


_HOSTNAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,252}[a-zA-Z0-9])?$")


def valid_hostname(name: str) -> bool:
    return bool(_HOSTNAME.match(name))

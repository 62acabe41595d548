"""The /etc files a container gets: Docker's hosts defaults, resolv.conf without
unreachable loopback resolvers, --dns/--add-host, in-place rewrites."""

from __future__ import annotations

import os
from pathlib import Path

from pyd_dockerd.network import resolv


def test_hosts_has_dockers_defaults_own_address_and_peers() -> None:
    text = resolv.hosts_content(hostname="abc123", addresses=["172.18.0.2"],
                                aliases=["web"], peers=[("172.18.0.3", ["db", "0123456789ab"])],
                                extra_hosts=["gw:10.0.0.1"])
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert "10.0.0.1\tgw" in lines
    assert "172.18.0.2\tabc123 web" in lines
    assert lines[-1] == "172.18.0.3\tdb 0123456789ab"


def test_resolv_conf_drops_loopback_nameservers(tmp_path: Path) -> None:
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 127.0.0.53\nsearch example.org\noptions edns0\n")
    text = resolv.resolv_conf_content(host_resolv=str(host))
    assert text == ("nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch example.org\n"
                    "options edns0\n")
    host.write_text("nameserver 10.1.1.1\nnameserver 127.0.0.1\n")
    assert resolv.resolv_conf_content(host_resolv=str(host)) == "nameserver 10.1.1.1\n"
    assert resolv.resolv_conf_content(host_resolv=str(host), dns=["1.1.1.1"],
                                      dns_search=["corp"]) == \
        "nameserver 1.1.1.1\nsearch corp\n"
    # --network host keeps the host's resolvers, loopback ones included
    assert "127.0.0.1" in resolv.resolv_conf_content(host_resolv=str(host), host_network=True)


def test_rewrite_keeps_the_inode_so_bind_mounts_see_it(tmp_path: Path) -> None:
    path = str(tmp_path / "hosts")
    resolv.write_in_place(path, "one\n")
    ino = os.stat(path).st_ino
    resolv.write_in_place(path, "two\n")
    assert os.stat(path).st_ino == ino and Path(path).read_text() == "two\n"

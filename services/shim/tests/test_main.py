"""The shim's command line and where it puts its socket."""

from __future__ import annotations

import pytest

from pyd_shim import main


def test_go_style_flags_as_containerd_passes_them(tmp_path):
    f = main.parse(["-namespace", "moby", "-address", "/run/c.sock", "-publish-binary",
                    "/usr/bin/containerd", "-id", "abc", "-bundle", str(tmp_path), "-debug",
                    "start"])
    assert (f.namespace, f.id, f.address, f.bundle, f.debug, f.command) == \
        ("moby", "abc", "/run/c.sock", str(tmp_path), True, "start")
    g = main.parse(["--id=x", "call", "State", '{"id": "x"}'])
    assert (g.id, g.command, g.args, g.namespace) == ("x", "call", ("State", '{"id": "x"}'),
                                                      "default")
    with pytest.raises(SystemExit):
        main.parse(["-bogus", "start"])
    with pytest.raises(SystemExit):
        main.parse(["-id"])


def test_socket_path_is_short_and_unique_per_stack_and_task():
    a = main.socket_path("/run/pyd/containerd/containerd.sock", "moby", "c1")
    assert a.startswith("/run/pyd/containerd/s/") and len(a) <= 100
    assert a != main.socket_path("/run/pyd/containerd/containerd.sock", "moby", "c2")
    assert a != main.socket_path("/run/pyd/containerd/containerd.sock", "default", "c1")
    long_dir = "/tmp/" + "x" * 90 + "/containerd.sock"
    b = main.socket_path(long_dir, "moby", "c1")
    assert b.startswith("/run/pyd/s/") and len(b) < 108

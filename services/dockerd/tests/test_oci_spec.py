"""The OCI spec dockerd hands the runtime follows Docker's defaults and the user's flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyd_dockerd.daemon import oci
from pyd_proto.errdefs import InvalidArgument


def test_default_spec_has_docker_caps_namespaces_and_masks() -> None:
    spec = oci.build_spec(oci.SpecOptions(args=["true"], hostname="abc"))
    caps = spec["process"]["capabilities"]["bounding"]
    assert caps == oci.DEFAULT_CAPS
    assert "CAP_SYS_ADMIN" not in caps
    kinds = [n["type"] for n in spec["linux"]["namespaces"]]
    assert kinds == ["pid", "ipc", "uts", "mount", "network"]
    assert "/proc/kcore" in spec["linux"]["maskedPaths"]
    assert "/proc/sysrq-trigger" in spec["linux"]["readonlyPaths"]
    assert spec["process"]["env"][0].startswith("PATH=")
    assert "HOSTNAME=abc" in spec["process"]["env"]
    assert spec["linux"]["resources"]["devices"][0] == {"allow": False, "access": "rwm"}


def test_cap_add_and_drop_follow_docker_rules() -> None:
    assert "CAP_NET_ADMIN" in oci.capabilities(["net_admin"], [], False)
    assert "CAP_CHOWN" not in oci.capabilities([], ["chown"], False)
    assert oci.capabilities(["NET_RAW"], ["ALL"], False) == ["CAP_NET_RAW"]
    assert oci.capabilities(["ALL"], ["CAP_SYS_ADMIN"], False) == [
        c for c in oci.ALL_CAPS if c != "CAP_SYS_ADMIN"]
    # privileged: every capability dockerd itself may hand out.
    assert oci.capabilities([], [], True) == oci.bounding_caps()
    assert set(oci.bounding_caps()) <= set(oci.ALL_CAPS) and "CAP_CHOWN" in oci.bounding_caps()
    with pytest.raises(InvalidArgument, match="unknown capability"):
        oci.capabilities(["FLY"], [], False)


def test_resources_memory_cpus_pids() -> None:
    spec = oci.build_spec(oci.SpecOptions(args=["sh"], memory=64 << 20, nano_cpus=1_500_000_000,
                                          pids_limit=10))
    res = spec["linux"]["resources"]
    assert res["memory"] == {"limit": 64 << 20}
    assert res["cpu"] == {"period": 100_000, "quota": 150_000}
    assert res["pids"] == {"limit": 10}


def test_host_network_has_no_network_namespace_and_joined_one_has_a_path() -> None:
    host = oci.build_spec(oci.SpecOptions(args=["true"], network_ns=None))
    assert "network" not in [n["type"] for n in host["linux"]["namespaces"]]
    joined = oci.build_spec(oci.SpecOptions(args=["true"], network_ns="/proc/42/ns/net"))
    assert {"type": "network", "path": "/proc/42/ns/net"} in joined["linux"]["namespaces"]


def test_privileged_unmasks_and_allows_all_devices() -> None:
    spec = oci.build_spec(oci.SpecOptions(args=["true"], privileged=True))
    assert spec["linux"]["maskedPaths"] == []
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]


def test_user_mounts_replace_defaults_at_the_same_destination() -> None:
    shm = {"destination": "/dev/shm", "type": "bind", "source": "/tmp/x", "options": ["rbind"]}
    spec = oci.build_spec(oci.SpecOptions(args=["true"], extra_mounts=[shm]))
    assert [m for m in spec["mounts"] if m["destination"] == "/dev/shm"] == [shm]


def test_no_command_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="no command specified"):
        oci.build_spec(oci.SpecOptions(args=[]))


def test_resolve_user_reads_the_containers_passwd_and_group(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n"
                                         "app:x:1000:1000::/home/app:/bin/sh\n")
    (tmp_path / "etc/group").write_text("root:x:0:\napp:x:1000:\nwheel:x:10:app\n")
    assert oci.resolve_user(str(tmp_path), "app") == (1000, 1000, [10])
    assert oci.resolve_user(str(tmp_path), "app:wheel") == (1000, 10, [])
    assert oci.resolve_user(str(tmp_path), "1234:55") == (1234, 55, [])
    assert oci.resolve_user(str(tmp_path), "") == (0, 0, [])
    with pytest.raises(InvalidArgument, match="unable to find user nobody"):
        oci.resolve_user(str(tmp_path), "nobody")

"""pyd-dockerd's networking flags in a whole stack: `--bridge-name`/`--bip` make the
default bridge and pyd's iptables chains in the stack's namespace at start; a clean
stop with no container attached removes them again."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from pyd_dockerd.network import bridge
from pyd_dockerd.network.nat import chain_prefix
from pyd_proto import dial
from pyd_proto.pyd.dockerd.v1 import networks_pb2, networks_pb2_grpc
from tests.stack import private_stack

pytestmark = [pytest.mark.e2e, pytest.mark.root]


def _nat_rules(netns: str) -> str:
    return subprocess.run(["nsenter", f"--net={netns}", "iptables", "-w", "-t", "nat", "-S"],
                          capture_output=True, text=True, check=True).stdout


def test_bridge_flags_make_default_network_and_stop_removes_it() -> None:
    tag = uuid.uuid4().hex[:6]
    name = f"pydn{tag}"
    with private_stack(start=False) as stack:
        stack.start(30.0, "--bridge-name", name, "--bip", "10.220.0.1/24")
        with bridge.entered(stack.netns):
            assert [str(i) for i in bridge.host_ip_of_bridge(name)] == ["10.220.0.1/24"]
        rules = _nat_rules(stack.netns)
        prefix = chain_prefix(name)
        assert f"-N {prefix}" in rules and "-s 10.220.0.0/24" in rules

        with dial.channel(stack.host) as ch:
            nets = networks_pb2_grpc.NetworksStub(ch).List(
                networks_pb2.ListNetworksRequest()).networks
        default = next(n for n in nets if n.name == "bridge")
        assert default.ipam.config[0].subnet == "10.220.0.0/24"
        assert default.options["com.docker.network.bridge.name"] == name

        assert stack.stop() == 0
        with bridge.entered(stack.netns):
            assert not bridge.link_exists(name)
        assert prefix not in _nat_rules(stack.netns)

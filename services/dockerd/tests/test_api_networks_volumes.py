"""The Networks and Volumes services over a real unix socket: Docker's shapes and the
gRPC codes the CLI turns into Docker's messages."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy import Engine

from pyd_dockerd.api import networks as networks_api
from pyd_dockerd.api import volumes as volumes_api
from pyd_dockerd.network.controller import NetworkController, NetworkOptions
from pyd_dockerd.store.containers import ContainerStore
from pyd_dockerd.volumes.local import VolumeStore
from pyd_proto import dial
from pyd_proto.pyd.dockerd.v1 import networks_pb2 as npb
from pyd_proto.pyd.dockerd.v1 import networks_pb2_grpc, types_pb2, volumes_pb2_grpc
from pyd_proto.pyd.dockerd.v1 import volumes_pb2 as vpb
from pyd_proto.server import Daemon as Server


@pytest.fixture
def channel(engine: Engine, tmp_path: Path, private_netns: str) -> Iterator[grpc.Channel]:
    store = ContainerStore(engine, str(tmp_path / "containers"))
    ctl = NetworkController(engine, store, NetworkOptions(
        bridge_name=f"pa{uuid.uuid4().hex[:6]}", bip="10.216.0.1/24",
        netns_dir=str(tmp_path / "netns")))
    ctl.init()
    sock = str(tmp_path / "api.sock")
    server = Server("test-dockerd", sock)
    server.add(networks_pb2_grpc.add_NetworksServicer_to_server,
               networks_api.NetworksService(ctl, store), networks_api.SERVICE)
    server.add(volumes_pb2_grpc.add_VolumesServicer_to_server,
               volumes_api.VolumesService(VolumeStore(engine, str(tmp_path / "volumes"))),
               volumes_api.SERVICE)
    server.start()
    ch = dial.channel(f"unix://{sock}")
    try:
        yield ch
    finally:
        ch.close()
        server.stop(0)
        ctl.teardown()


def _code(fn, *args) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as err:
        fn(*args)
    return err.value.code()  # type: ignore[no-any-return]


def test_network_commands_over_grpc(channel: grpc.Channel) -> None:
    stub = networks_pb2_grpc.NetworksStub(channel)
    names = {n.name for n in stub.List(npb.ListNetworksRequest()).networks}
    assert {"bridge", "host", "none"} <= names
    created = stub.Create(npb.CreateNetworkRequest(
        name="front", ipam=npb.IPAM(config=[npb.IPAMConfig(subnet="10.217.0.0/24")]),
        labels={"tier": "web"}))
    assert len(created.id) == 64
    net = stub.Inspect(npb.InspectNetworkRequest(id=created.id[:10]))
    assert (net.name, net.driver, net.scope) == ("front", "bridge", "local")
    assert net.ipam.config[0].subnet == "10.217.0.0/24"
    assert net.ipam.config[0].gateway == "10.217.0.1"
    custom = stub.List(npb.ListNetworksRequest(filters={
        "type": types_pb2.FilterValues(values=["custom"])})).networks
    assert [n.name for n in custom] == ["front"]
    assert _code(stub.Create, npb.CreateNetworkRequest(name="front")) == \
        grpc.StatusCode.ALREADY_EXISTS
    assert _code(stub.Create, npb.CreateNetworkRequest(
        name="clash", ipam=npb.IPAM(config=[npb.IPAMConfig(subnet="10.217.0.128/25")]))) == \
        grpc.StatusCode.FAILED_PRECONDITION
    assert _code(stub.Remove, npb.RemoveNetworkRequest(id="bridge")) == \
        grpc.StatusCode.FAILED_PRECONDITION
    assert _code(stub.Inspect, npb.InspectNetworkRequest(id="nosuch")) == \
        grpc.StatusCode.NOT_FOUND
    stub.Remove(npb.RemoveNetworkRequest(id="front"))
    assert "front" not in {n.name for n in stub.List(npb.ListNetworksRequest()).networks}
    stub.Create(npb.CreateNetworkRequest(name="spare"))
    pruned = stub.Prune(npb.PruneNetworksRequest()).networks_deleted
    assert list(pruned) == ["spare"]


def test_volume_commands_over_grpc(channel: grpc.Channel) -> None:
    stub = volumes_pb2_grpc.VolumesStub(channel)
    v = stub.Create(vpb.CreateVolumeRequest(name="data", labels={"a": "b"}))
    assert v.name == "data" and v.driver == "local" and v.mountpoint.endswith("/data/_data")
    assert v.created_at.seconds > 0
    anon = stub.Create(vpb.CreateVolumeRequest())
    assert len(anon.name) == 64
    listed = stub.List(vpb.ListVolumesRequest()).volumes
    assert {x.name for x in listed} == {"data", anon.name}
    assert stub.Inspect(vpb.InspectVolumeRequest(name="data")).labels["a"] == "b"
    assert _code(stub.Inspect, vpb.InspectVolumeRequest(name="nope")) == \
        grpc.StatusCode.NOT_FOUND
    assert _code(stub.Create, vpb.CreateVolumeRequest(name="bad name")) == \
        grpc.StatusCode.INVALID_ARGUMENT
    pruned = stub.Prune(vpb.PruneVolumesRequest())
    assert list(pruned.volumes_deleted) == [anon.name]
    stub.Remove(vpb.RemoveVolumeRequest(name="data"))
    assert not stub.List(vpb.ListVolumesRequest()).volumes

"""pyd.dockerd.v1.Networks: parse, call the network controller, build the response
(moby's api/server/router/network)."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format

from pyd_dockerd.network.controller import NetworkController, filter_networks
from pyd_dockerd.store.containers import ContainerStore
from pyd_proto.errdefs import abort_on_error
from pyd_proto.pyd.dockerd.v1 import networks_pb2 as pb
from pyd_proto.pyd.dockerd.v1 import networks_pb2_grpc as pb_grpc
from pyd_proto.pyd.dockerd.v1 import types_pb2

SERVICE = pb.DESCRIPTOR.services_by_name["Networks"].full_name


def filters_dict(filters: Any) -> dict[str, list[str]]:
    return {k: list(v.values) for k, v in filters.items()}


def to_network(d: dict[str, Any]) -> pb.Network:
    return json_format.ParseDict(d, pb.Network(), ignore_unknown_fields=True)


def endpoint_config(msg: types_pb2.EndpointSettings) -> dict[str, Any]:
    """What a client asked for on connect (--ip, --alias) in Docker's JSON keys."""
    out: dict[str, Any] = {}
    if msg.ipam_config.ipv4_address:
        out["IPAMConfig"] = {"IPv4Address": msg.ipam_config.ipv4_address}
    if msg.aliases:
        out["Aliases"] = list(msg.aliases)
    if msg.driver_opts:
        out["DriverOpts"] = dict(msg.driver_opts)
    return out


class NetworksService(pb_grpc.NetworksServicer):
    def __init__(self, networks: NetworkController, containers: ContainerStore) -> None:
        self.networks = networks
        self.containers = containers

    @abort_on_error
    def Create(self, request: pb.CreateNetworkRequest,
               context: grpc.ServicerContext) -> pb.CreateNetworkResponse:
        cfg = request.ipam.config[0] if request.ipam.config else pb.IPAMConfig()
        net = self.networks.create_network(
            request.name, driver=request.driver, subnet=cfg.subnet, gateway=cfg.gateway,
            ip_range=cfg.ip_range, internal=request.internal, attachable=request.attachable,
            options=dict(request.options), labels=dict(request.labels))
        return pb.CreateNetworkResponse(id=net.id)

    @abort_on_error
    def List(self, request: pb.ListNetworksRequest,
             context: grpc.ServicerContext) -> pb.ListNetworksResponse:
        filters = filters_dict(request.filters)
        members: dict[str, int] = {}
        if "dangling" in filters:
            for net in self.networks.list_networks():
                members[net.id] = len(self.networks.endpoints_on(net.id))
        nets = filter_networks(self.networks.list_networks(), filters, members)
        return pb.ListNetworksResponse(networks=[to_network(self.networks.network_json(n))
                                                 for n in nets])

    @abort_on_error
    def Inspect(self, request: pb.InspectNetworkRequest,
                context: grpc.ServicerContext) -> pb.Network:
        return to_network(self.networks.inspect_network(request.id))

    @abort_on_error
    def Remove(self, request: pb.RemoveNetworkRequest,
               context: grpc.ServicerContext) -> empty_pb2.Empty:
        self.networks.remove_network(request.id)
        return empty_pb2.Empty()

    @abort_on_error
    def Connect(self, request: pb.ConnectNetworkRequest,
                context: grpc.ServicerContext) -> empty_pb2.Empty:
        container = self.containers.get(request.container)
        self.networks.connect(request.network, container,
                              endpoint_config(request.endpoint_config))
        self.containers.save(container)
        return empty_pb2.Empty()

    @abort_on_error
    def Disconnect(self, request: pb.DisconnectNetworkRequest,
                   context: grpc.ServicerContext) -> empty_pb2.Empty:
        container = self.containers.get(request.container)
        self.networks.disconnect(request.network, container, force=request.force)
        self.containers.save(container)
        return empty_pb2.Empty()

    @abort_on_error
    def Prune(self, request: pb.PruneNetworksRequest,
              context: grpc.ServicerContext) -> pb.PruneNetworksResponse:
        labels = {}
        for expr in filters_dict(request.filters).get("label", []):
            k, _, v = expr.partition("=")
            labels[k] = v
        return pb.PruneNetworksResponse(networks_deleted=self.networks.prune_networks(labels))

"""API clients for the load test, in a process of their own: `python -m
tests.reliability.loadclient HOST {run|rm} CLIENTS NETWORK NAME...` runs CLIENTS
concurrent gRPC clients (one channel each, as ten `docker` SDK users would have) that
create and start, or force-remove, the named containers; prints one JSON object
{name: error or ""}.

A process of its own because the test process forks `pyd ps` meanwhile, and grpc's
fork handlers must not meet live channels there (see workload.py).
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from pyd_proto import dial
from pyd_proto.pyd.dockerd.v1 import containers_pb2, containers_pb2_grpc, types_pb2


def main(argv: list[str]) -> int:
    host, mode, clients, network, *names = argv
    stubs = [containers_pb2_grpc.ContainersStub(dial.channel(host))
             for _ in range(int(clients))]
    results: dict[str, str] = {}

    def one(i: int, name: str) -> None:
        stub: Any = stubs[i % len(stubs)]
        try:
            if mode == "run":
                cid = stub.Create(containers_pb2.CreateContainerRequest(
                    name=name, config=types_pb2.Config(image="busybox", cmd=["sleep", "3600"]),
                    host_config=types_pb2.HostConfig(network_mode=network)), timeout=300).id
                stub.Start(containers_pb2.StartContainerRequest(id=cid), timeout=300)
            else:
                stub.Remove(containers_pb2.RemoveContainerRequest(id=name, force=True),
                            timeout=300)
            results[name] = ""
        except grpc.RpcError as e:
            results[name] = f"{e.code().name}: {e.details()}"  # type: ignore[attr-defined]

    # Client i takes names i, i+CLIENTS, ...: each works through its share in order.
    def client(i: int) -> None:
        for name in names[i::int(clients)]:
            one(i, name)

    with ThreadPoolExecutor(int(clients)) as pool:
        list(pool.map(client, range(int(clients))))
    sys.stdout.write(json.dumps(results) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

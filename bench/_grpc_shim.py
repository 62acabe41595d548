"""The road not taken, for bench.shim_memory: pyd-shim's TaskService served with grpcio
instead of ttrpc. Runs one `sleep` task on the bundle given, prints READY, then idles.

    python -m bench._grpc_shim BUNDLE RUNTIME ROOT SOCKET
"""

from __future__ import annotations

import os
import sys
import time
from concurrent import futures

import grpc

from pyd_proto.containerd.runtime.task.v2 import shim_pb2 as pb
from pyd_proto.containerd.runtime.task.v2 import shim_pb2_grpc
from pyd_shim import reaper, task_service


class _NoEvents:
    def publish(self, topic: str, event: object) -> None:
        pass


def main() -> None:
    bundle, runtime, root, sock = sys.argv[1:5]
    with open(os.path.join(bundle, "options.json"), "w") as f:
        f.write(f'{{"binary_name": "{runtime}", "root": "{root}"}}')
    reaper.set_child_subreaper()
    r = reaper.Reaper()
    r.start()
    svc = task_service.TaskService(namespace="bench", id="grpc", bundle=bundle, reaper=r,
                                   events=_NoEvents())

    class Servicer(shim_pb2_grpc.TaskServicer):
        pass

    servicer = Servicer()  # type: ignore[abstract]  # methods are set just below
    for name in task_service.METHODS:
        fn = getattr(svc, name)
        setattr(servicer, name, lambda req, ctx, fn=fn: fn(req))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    shim_pb2_grpc.add_TaskServicer_to_server(servicer, server)
    server.add_insecure_port(f"unix:{sock}")
    server.start()
    svc.Create(pb.CreateTaskRequest(id="grpc", bundle=bundle))
    svc.Start(pb.StartRequest(id="grpc"))
    print("READY", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()

"""An in-process stand-in for pyd-dockerd: just enough of the pyd.dockerd.v1 API
for the CLI's command tests, on a temporary unix socket.

Containers "run" a tiny script taken from their command line:
  echo WORDS...   print WORDS on stdout, exit 0
  fail N          print "boom" on stderr, exit N
  cat             copy stdin to stdout until stdin closes, exit 0
  sleep           run until stopped or killed
Every request is recorded in `FakeDaemon.calls` as (method, request).
"""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import empty_pb2

from pyd_proto.pyd.dockerd.v1 import (
    checkpoints_pb2,
    checkpoints_pb2_grpc,
    containers_pb2,
    containers_pb2_grpc,
    images_pb2,
    images_pb2_grpc,
    networks_pb2,
    networks_pb2_grpc,
    system_pb2,
    system_pb2_grpc,
    types_pb2,
    volumes_pb2,
    volumes_pb2_grpc,
)

OUT, ERR = types_pb2.STD_STREAM_STDOUT, types_pb2.STD_STREAM_STDERR


class FakeContainer:
    def __init__(self, cid: str, name: str, req: containers_pb2.CreateContainerRequest) -> None:
        self.id = cid
        self.name = name
        self.request = req
        self.status = "created"
        self.exit_code = 0
        self.output: list[tuple[int, bytes, float]] = []
        self.cond = threading.Condition()
        self.stdin: list[bytes] = []
        self.stdin_closed = False
        self.created = time.time() - 120
        self.started = 0.0
        self.runs = 0

    def emit(self, stream: int, data: bytes) -> None:
        with self.cond:
            self.output.append((stream, data, time.time()))
            self.cond.notify_all()

    def finish(self, code: int) -> None:
        with self.cond:
            self.status = "exited"
            self.exit_code = code
            self.cond.notify_all()

    def run(self) -> None:
        cmd = list(self.request.config.cmd)
        self.runs += 1
        with self.cond:
            self.status = "running"
            self.started = time.time()
            self.cond.notify_all()
        if not cmd:
            self.finish(0)
        elif cmd[0] == "echo":
            self.emit(OUT, (" ".join(cmd[1:]) + "\n").encode())
            self.finish(0)
        elif cmd[0] == "fail":
            self.emit(ERR, b"boom\n")
            self.finish(int(cmd[1]))
        elif cmd[0] == "cat":
            threading.Thread(target=self._cat, daemon=True).start()
        # sleep: stays running

    def _cat(self) -> None:
        sent = 0
        with self.cond:
            while True:
                while sent < len(self.stdin):
                    self.output.append((OUT, self.stdin[sent], time.time()))
                    sent += 1
                    self.cond.notify_all()
                if self.stdin_closed or self.status != "running":
                    break
                self.cond.wait(0.1)
        self.finish(0)


class FakeDaemon(
    system_pb2_grpc.SystemServicer,
    containers_pb2_grpc.ContainersServicer,
    images_pb2_grpc.ImagesServicer,
    networks_pb2_grpc.NetworksServicer,
    volumes_pb2_grpc.VolumesServicer,
    checkpoints_pb2_grpc.CheckpointsServicer,
):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.containers: dict[str, FakeContainer] = {}
        self.images: dict[str, str] = {"busybox:latest": "sha256:" + "b" * 64}
        self.pullable: set[str] = {"alpine:latest"}
        self.errors: dict[str, tuple[grpc.StatusCode, str]] = {}
        self.host = ""
        self.uploaded = b""
        self._n = 0

    # ------------------------------------------------------------ helpers

    def record(self, name: str, req: Any, context: Any) -> None:
        self.calls.append((name, req))
        if name in self.errors:
            context.abort(*self.errors[name])

    def requests(self, name: str) -> list[Any]:
        return [r for n, r in self.calls if n == name]

    def find(self, ref: str, context: Any) -> FakeContainer:
        for c in self.containers.values():
            if ref in (c.id, c.name) or (len(ref) >= 3 and c.id.startswith(ref)):
                return c
        context.abort(grpc.StatusCode.NOT_FOUND, f"No such container: {ref}")
        raise AssertionError

    def add(self, name: str, cmd: list[str], status: str = "created") -> FakeContainer:
        req = containers_pb2.CreateContainerRequest(name=name)
        req.config.image = "busybox"
        req.config.cmd.extend(cmd)
        self._n += 1
        cid = hashlib.sha256(f"{name}{self._n}".encode()).hexdigest()
        c = FakeContainer(cid, name, req)
        c.status = status
        self.containers[cid] = c
        return c

    # ------------------------------------------------------------- system

    def Events(self, request, context):
        self.record("Events", request, context)
        ev = system_pb2.Event(
            type="container",
            action="start",
            scope="local",
            time=1700000000,
            time_nano=1700000000_123456789,
        )
        ev.actor.id = "abc"
        ev.actor.attributes.update({"name": "web", "image": "busybox"})
        yield ev

    def DataUsage(self, request, context):
        self.record("DataUsage", request, context)
        du = system_pb2.DataUsageResponse(layers_size=4_000_000)
        du.images.add(id="sha256:" + "b" * 64, size=3_000_000, containers=1)
        du.images.add(id="sha256:" + "d" * 64, size=1_000_000, containers=0)
        du.containers.add(id="c" * 64, state="running", size_rw=100)
        du.containers.add(id="e" * 64, state="exited", size_rw=300)
        return du

    def Ping(self, request, context):
        return system_pb2.PingResponse(api_version="1.0", min_api_version="1.0", os_type="linux")

    # --------------------------------------------------------- containers

    def Create(self, request, context):
        self.record("Create", request, context)
        image = request.config.image
        key = image if ":" in image.split("/")[-1] else image + ":latest"
        if image and key not in self.images:
            context.abort(grpc.StatusCode.NOT_FOUND, f"No such image: {key}")
        name = request.name or f"fake_{self._n}"
        if any(c.name == name for c in self.containers.values()):
            context.abort(
                grpc.StatusCode.ALREADY_EXISTS,
                f'Conflict. The container name "/{name}" is already in use',
            )
        c = self.add(name, [])
        c.request = request
        return containers_pb2.CreateContainerResponse(id=c.id)

    def Start(self, request, context):
        self.record("Start", request, context)
        c = self.find(request.id, context)
        if c.status == "running":
            return empty_pb2.Empty()
        threading.Thread(target=c.run, daemon=True).start()
        return empty_pb2.Empty()

    def Stop(self, request, context):
        self.record("Stop", request, context)
        c = self.find(request.id, context)
        if c.status == "running":
            c.finish(143)
        return empty_pb2.Empty()

    def Restart(self, request, context):
        self.record("Restart", request, context)
        c = self.find(request.id, context)
        threading.Thread(target=c.run, daemon=True).start()
        return empty_pb2.Empty()

    def Kill(self, request, context):
        self.record("Kill", request, context)
        c = self.find(request.id, context)
        if c.status != "running":
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"container {c.id} is not running")
        if request.signal in ("", "KILL", "SIGKILL", "9"):
            c.finish(137)
        elif request.signal in ("SIGINT", "SIGTERM"):
            c.finish(130 if request.signal == "SIGINT" else 143)
        return empty_pb2.Empty()

    def Remove(self, request, context):
        self.record("Remove", request, context)
        c = self.find(request.id, context)
        if c.status == "running" and not request.force:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f'cannot remove container "/{c.name}": container is running: stop the '
                "container before removing or force remove",
            )
        del self.containers[c.id]
        return empty_pb2.Empty()

    def List(self, request, context):
        self.record("List", request, context)
        out = []
        for c in self.containers.values():
            if not request.all and c.status != "running":
                continue
            s = containers_pb2.ContainerSummary(
                id=c.id,
                names=["/" + c.name],
                image=c.request.config.image,
                command=" ".join(c.request.config.cmd),
                state=c.status,
                status="Up 3 seconds"
                if c.status == "running"
                else f"Exited ({c.exit_code}) 5 seconds ago",
            )
            s.created.seconds = int(c.created)
            for port, pbs in c.request.host_config.port_bindings.items():
                number, _, proto = port.partition("/")
                for b in pbs.items:
                    s.ports.add(
                        ip=b.host_ip or "0.0.0.0",
                        private_port=int(number),
                        public_port=int(b.host_port or 0),
                        type=proto,
                    )
            out.append(s)
        return containers_pb2.ListContainersResponse(containers=out)

    def Inspect(self, request, context):
        self.record("Inspect", request, context)
        c = self.find(request.id, context)
        j = containers_pb2.ContainerJSON(
            id=c.id,
            name="/" + c.name,
            path=(list(c.request.config.cmd) or [""])[0],
            args=list(c.request.config.cmd)[1:],
            image="sha256:" + "b" * 64,
            config=c.request.config,
            host_config=c.request.host_config,
        )
        j.created.seconds = int(c.created)
        j.state.status = c.status
        j.state.running = c.status == "running"
        j.state.exit_code = c.exit_code
        for port, pbs in c.request.host_config.port_bindings.items():
            items = j.network_settings.ports[port]
            for b in pbs.items:
                items.items.add(host_ip=b.host_ip or "0.0.0.0", host_port=b.host_port)
        return j

    def Update(self, request, context):
        self.record("Update", request, context)
        self.find(request.id, context)
        return containers_pb2.UpdateContainerResponse()

    def Stats(self, request, context):
        self.record("Stats", request, context)
        c = self.find(request.id, context)
        st = containers_pb2.ContainerStats(id=c.id, name="/" + c.name)
        st.cpu_stats.cpu_usage.total_usage = 3_000_000
        st.precpu_stats.cpu_usage.total_usage = 1_000_000
        st.cpu_stats.system_cpu_usage = 20_000_000
        st.precpu_stats.system_cpu_usage = 10_000_000
        st.cpu_stats.online_cpus = 2
        st.memory_stats.usage = 10 << 20
        st.memory_stats.stats["inactive_file"] = 2 << 20
        st.memory_stats.limit = 64 << 20
        st.networks["eth0"].rx_bytes = 1500
        st.networks["eth0"].tx_bytes = 648
        st.pids_stats.current = 3
        yield st

    def Rename(self, request, context):
        self.record("Rename", request, context)
        self.find(request.id, context).name = request.new_name
        return empty_pb2.Empty()

    def Pause(self, request, context):
        self.record("Pause", request, context)
        self.find(request.id, context).status = "paused"
        return empty_pb2.Empty()

    def Unpause(self, request, context):
        self.record("Unpause", request, context)
        self.find(request.id, context).status = "running"
        return empty_pb2.Empty()

    def Top(self, request, context):
        self.record("Top", request, context)
        self.find(request.id, context)
        resp = containers_pb2.TopContainerResponse(titles=["UID", "PID", "CMD"])
        resp.processes.add(values=["root", "4242", "sleep 1000"])
        return resp

    def Wait(self, request, context):
        self.record("Wait", request, context)
        c = self.find(request.id, context)
        runs = c.runs
        yield containers_pb2.WaitContainerResponse(registered=True)
        with c.cond:
            if request.condition == "next-exit":
                while not (c.status == "exited" and c.runs >= max(runs, 1)) and context.is_active():
                    c.cond.wait(0.1)
            else:
                while c.status in ("running", "paused") and context.is_active():
                    c.cond.wait(0.1)
        yield containers_pb2.WaitContainerResponse(status_code=c.exit_code)

    def Logs(self, request, context):
        self.record("Logs", request, context)
        c = self.find(request.id, context)
        for stream, data, ts in list(c.output):
            f = containers_pb2.LogFrame(stream=stream, data=data)
            f.timestamp.seconds = int(ts)
            f.timestamp.nanos = 5000
            yield f

    def Attach(self, request_iterator, context):
        first = next(request_iterator)
        self.record("Attach", first, context)
        c = self.find(first.start.id, context)
        # The offset is fixed before the ack: output after the ack is never missed.
        sent = 0 if first.start.logs else len(c.output)
        yield containers_pb2.AttachResponse(output=containers_pb2.LogFrame(stream=OUT))

        def feed() -> None:
            try:
                for req in request_iterator:
                    with c.cond:
                        if req.HasField("stdin"):
                            c.stdin.append(req.stdin)
                        elif req.close_stdin:
                            c.stdin_closed = True
                        c.cond.notify_all()
            except grpc.RpcError:
                pass  # the client went away (detach)

        threading.Thread(target=feed, daemon=True).start()
        while context.is_active():
            with c.cond:
                pending = c.output[sent:]
                sent += len(pending)
                done = c.status == "exited" and sent == len(c.output)
                if not pending and not done:
                    c.cond.wait(0.1)
            for stream, data, _ in pending:
                yield containers_pb2.AttachResponse(
                    output=containers_pb2.LogFrame(stream=stream, data=data)
                )
            if done:
                yield containers_pb2.AttachResponse(
                    exit=containers_pb2.AttachExit(exit_code=c.exit_code)
                )
                return

    def ExecCreate(self, request, context):
        self.record("ExecCreate", request, context)
        c = self.find(request.container, context)
        if c.status != "running":
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"container {c.id} is not running")
        return containers_pb2.ExecCreateResponse(id="exec-" + "|".join(request.cmd))

    def ExecStart(self, request_iterator, context):
        first = next(request_iterator)
        self.record("ExecStart", first, context)
        cmd = first.start.exec_id.removeprefix("exec-").split("|")
        if first.start.detach:
            yield containers_pb2.AttachResponse(exit=containers_pb2.AttachExit(detached=True))
            return
        if cmd[0].startswith("/nonexistent"):
            context.abort(
                grpc.StatusCode.UNKNOWN,
                f'pyd-runc exec failed: exec: "{cmd[0]}": stat {cmd[0]}: no such file or directory',
            )
        if cmd[0] == "echo":
            yield containers_pb2.AttachResponse(
                output=containers_pb2.LogFrame(stream=OUT, data=(" ".join(cmd[1:]) + "\n").encode())
            )
            code = 0
        else:
            code = int(cmd[1]) if cmd[0] == "fail" else 127
        yield containers_pb2.AttachResponse(exit=containers_pb2.AttachExit(exit_code=code))

    def Prune(self, request, context):
        self.record("Prune", request, context)
        gone = [cid for cid, c in self.containers.items() if c.status == "exited"]
        for cid in gone:
            del self.containers[cid]
        return containers_pb2.PruneContainersResponse(containers_deleted=gone, space_reclaimed=2048)

    def StatPath(self, request, context):
        self.record("StatPath", request, context)
        if request.path in ("/tmp", "/tmp/"):
            return containers_pb2.PathStat(name="tmp", mode=(1 << 31) | 0o777)
        context.abort(grpc.StatusCode.NOT_FOUND, f"Could not find the file {request.path}")

    def CopyTo(self, request_iterator, context):
        first = next(request_iterator)
        self.record("CopyTo", first, context)
        self.uploaded = b"".join(r.chunk for r in request_iterator)
        return empty_pb2.Empty()

    def CopyFrom(self, request, context):
        self.record("CopyFrom", request, context)
        import io
        import tarfile

        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            data = b"hello from the container\n"
            info = tarfile.TarInfo("hosts")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        yield containers_pb2.CopyFromResponse(
            stat=containers_pb2.PathStat(name="hosts", size=25, mode=0o644)
        )
        raw = buf.getvalue()
        for i in range(0, len(raw), 1000):
            yield containers_pb2.CopyFromResponse(chunk=raw[i : i + 1000])

    # -------------------------------------------------------------- images

    def Pull(self, request, context):
        self.record("Pull", request, context)
        ref = f"{request.image}:{request.tag or 'latest'}"
        if request.image == "streamerr":
            yield images_pb2.ProgressMessage(error="manifest for streamerr:latest not found")
            return
        if ref not in self.pullable:
            context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"pull access denied for {request.image}, repository does not exist or may "
                "require 'docker login'",
            )
        yield images_pb2.ProgressMessage(
            status=f"{request.tag or 'latest'}: Pulling from library/{request.image}"
        )
        yield images_pb2.ProgressMessage(id="ec562eabd705", status="Pull complete")
        yield images_pb2.ProgressMessage(status=f"Status: Downloaded newer image for {ref}")
        self.images[ref] = "sha256:" + hashlib.sha256(ref.encode()).hexdigest()

    def List_images(self, request, context):  # bound as Images.List below
        self.record("ImagesList", request, context)
        out = []
        for ref, iid in self.images.items():
            s = images_pb2.ImageSummary(
                id=iid, repo_tags=[ref], size=4_261_550, containers=-1, shared_size=-1
            )
            s.created.seconds = int(time.time()) - 3 * 7 * 24 * 3600
            out.append(s)
        dangling = images_pb2.ImageSummary(
            id="sha256:" + "d" * 64, size=1000, containers=-1, shared_size=-1
        )
        out.append(dangling)
        return images_pb2.ListImagesResponse(images=out)

    def Inspect_image(self, request, context):
        self.record("ImagesInspect", request, context)
        key = request.name if ":" in request.name else request.name + ":latest"
        if key not in self.images:
            context.abort(grpc.StatusCode.NOT_FOUND, f"No such image: {key}")
        return images_pb2.ImageInspect(id=self.images[key], repo_tags=[key], os="linux")

    def Tag(self, request, context):
        self.record("Tag", request, context)
        self.images[f"{request.repo}:{request.tag}"] = self.images.get("busybox:latest", "")
        return empty_pb2.Empty()

    def Remove_image(self, request, context):
        self.record("ImagesRemove", request, context)
        key = request.image if ":" in request.image else request.image + ":latest"
        if key not in self.images:
            context.abort(grpc.StatusCode.NOT_FOUND, f"No such image: {key}")
        iid = self.images.pop(key)
        resp = images_pb2.RemoveImageResponse()
        resp.items.add(untagged=key)
        resp.items.add(deleted=iid)
        return resp

    def Load(self, request_iterator, context):
        data = b""
        quiet = None
        for req in request_iterator:
            quiet = req.quiet if quiet is None else quiet
            data += req.chunk
        self.record("Load", images_pb2.LoadImageRequest(quiet=bool(quiet), chunk=data), context)
        resp = images_pb2.LoadImageResponse()
        resp.images.add(ref="busybox:latest", id="sha256:" + "b" * 64)
        return resp

    def Import(self, request_iterator, context):
        first = next(request_iterator)
        self.record("Import", first, context)
        self.uploaded = b"".join(r.chunk for r in request_iterator)
        return images_pb2.ImportImageResponse(
            id="sha256:" + hashlib.sha256(self.uploaded).hexdigest()
        )

    def Save(self, request, context):
        self.record("Save", request, context)
        yield types_pb2.TarChunk(data=b"TAR:" + ",".join(request.names).encode())

    def Prune_images(self, request, context):
        self.record("ImagesPrune", request, context)
        resp = images_pb2.PruneImagesResponse(space_reclaimed=1_500_000)
        resp.images_deleted.add(deleted="sha256:" + "d" * 64)
        return resp

    # ------------------------------------------------- networks, volumes

    def Create_network(self, request, context):
        self.record("NetworksCreate", request, context)
        return networks_pb2.CreateNetworkResponse(id="n" * 64)

    def List_networks(self, request, context):
        self.record("NetworksList", request, context)
        return networks_pb2.ListNetworksResponse(
            networks=[
                networks_pb2.Network(name="pyd0", id="a" * 64, driver="bridge", scope="local"),
                networks_pb2.Network(name="host", id="c" * 64, driver="host", scope="local"),
            ]
        )

    def Prune_networks(self, request, context):
        self.record("NetworksPrune", request, context)
        return networks_pb2.PruneNetworksResponse(networks_deleted=["net1"])

    def Prune_volumes(self, request, context):
        self.record("VolumesPrune", request, context)
        return volumes_pb2.PruneVolumesResponse(volumes_deleted=["anon1"], space_reclaimed=500)

    def Create_volume(self, request, context):
        self.record("VolumesCreate", request, context)
        return volumes_pb2.Volume(name=request.name or "f" * 64, driver=request.driver or "local")

    def List_volumes(self, request, context):
        self.record("VolumesList", request, context)
        return volumes_pb2.ListVolumesResponse(
            volumes=[volumes_pb2.Volume(name="data", driver="local")]
        )

    def Remove_volume(self, request, context):
        self.record("VolumesRemove", request, context)
        if request.name != "data":
            context.abort(grpc.StatusCode.NOT_FOUND, f"get {request.name}: no such volume")
        return empty_pb2.Empty()

    # ---------------------------------------------------------- checkpoints

    def Create_checkpoint(self, request, context):
        self.record("CheckpointsCreate", request, context)
        cp = checkpoints_pb2.Checkpoint(
            name=request.checkpoint_id, address="pyd://hostA:7777/web/cp1"
        )
        return checkpoints_pb2.CreateCheckpointResponse(checkpoint=cp, address=cp.address)

    def List_checkpoints(self, request, context):
        self.record("CheckpointsList", request, context)
        return checkpoints_pb2.ListCheckpointsResponse(
            checkpoints=[checkpoints_pb2.Checkpoint(name="cp1", container_name="web")]
        )

    def Import_checkpoint(self, request_iterator, context):
        first = next(request_iterator)
        self.record("CheckpointsImport", first, context)
        self.uploaded = b"".join(r.chunk for r in request_iterator)
        return checkpoints_pb2.Checkpoint(name=first.header.checkpoint_id or "imported1")

    def Export(self, request, context):
        self.record("CheckpointsExport", request, context)
        yield types_pb2.TarChunk(data=b"CHECKPOINT")


def _bind(servicer_cls: type, daemon: FakeDaemon, mapping: dict[str, str]) -> Any:
    """A servicer object for one service whose methods are the daemon's."""
    obj = servicer_cls()
    for rpc, attr in mapping.items():
        setattr(obj, rpc, getattr(daemon, attr))
    return obj


def start_fake(path: str) -> tuple[FakeDaemon, grpc.Server]:
    """Serve a FakeDaemon on unix socket `path`."""
    d = FakeDaemon()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    system_pb2_grpc.add_SystemServicer_to_server(d, server)
    containers_pb2_grpc.add_ContainersServicer_to_server(d, server)
    images_pb2_grpc.add_ImagesServicer_to_server(
        _bind(
            images_pb2_grpc.ImagesServicer,
            d,
            {
                "List": "List_images",
                "Inspect": "Inspect_image",
                "Pull": "Pull",
                "Tag": "Tag",
                "Remove": "Remove_image",
                "Load": "Load",
                "Import": "Import",
                "Save": "Save",
                "Prune": "Prune_images",
            },
        ),
        server,
    )
    networks_pb2_grpc.add_NetworksServicer_to_server(
        _bind(
            networks_pb2_grpc.NetworksServicer,
            d,
            {
                "Create": "Create_network",
                "List": "List_networks",
                "Prune": "Prune_networks",
            },
        ),
        server,
    )
    volumes_pb2_grpc.add_VolumesServicer_to_server(
        _bind(
            volumes_pb2_grpc.VolumesServicer,
            d,
            {
                "Create": "Create_volume",
                "List": "List_volumes",
                "Remove": "Remove_volume",
                "Prune": "Prune_volumes",
            },
        ),
        server,
    )
    checkpoints_pb2_grpc.add_CheckpointsServicer_to_server(
        _bind(
            checkpoints_pb2_grpc.CheckpointsServicer,
            d,
            {
                "Create": "Create_checkpoint",
                "List": "List_checkpoints",
                "Import": "Import_checkpoint",
                "Export": "Export",
            },
        ),
        server,
    )
    server.add_insecure_port(f"unix:{path}")
    server.start()
    d.host = f"unix://{path}"
    return d, server

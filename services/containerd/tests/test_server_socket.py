"""pyd-containerd over a real unix socket: import then list, error codes, content Write,
events stream."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from containerd_testimages import docker_save, layer_tar, sha
from google.protobuf import any_pb2

from pyd_containerd.config import Config
from pyd_containerd.server import make_server
from pyd_proto import dial
from pyd_proto.containerd.services.containers.v1 import containers_pb2 as cpb
from pyd_proto.containerd.services.containers.v1 import containers_pb2_grpc as cgrpc
from pyd_proto.containerd.services.content.v1 import content_pb2 as ctpb
from pyd_proto.containerd.services.content.v1 import content_pb2_grpc as ctgrpc
from pyd_proto.containerd.services.events.v1 import events_pb2 as epb
from pyd_proto.containerd.services.events.v1 import events_pb2_grpc as egrpc
from pyd_proto.containerd.services.images.v1 import images_pb2 as ipb
from pyd_proto.containerd.services.images.v1 import images_pb2_grpc as igrpc
from pyd_proto.containerd.services.snapshots.v1 import snapshots_pb2 as spb
from pyd_proto.containerd.services.snapshots.v1 import snapshots_pb2_grpc as sgrpc
from pyd_proto.pyd.containerd.v1 import transfer_pb2 as tpb
from pyd_proto.pyd.containerd.v1 import transfer_pb2_grpc as tgrpc

NS = (("containerd-namespace", "moby"),)


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[grpc.Channel]:
    cfg = Config(root=str(tmp_path / "root"), state=str(tmp_path / "state"),
                 address=str(tmp_path / "c.sock"))
    daemon = make_server(cfg)
    daemon.start()
    ch = dial.channel(cfg.socket_path)
    try:
        yield ch
    finally:
        ch.close()
        daemon.stop(0)


def test_socket_import_then_list_images(channel: grpc.Channel) -> None:
    l1 = layer_tar([("etc", "d", None), ("etc/hello", "f", "hi"), ("gone", "f", "x")])
    l2 = layer_tar([(".wh.gone", "f", "")])
    archive = docker_save([l1, l2], ["busybox:test"])

    def requests() -> Iterator[tpb.ImportRequest]:
        yield tpb.ImportRequest(options=tpb.ImportOptions())
        for i in range(0, len(archive), 4096):
            yield tpb.ImportRequest(data=archive[i:i + 4096])

    resp = tgrpc.TransferStub(channel).Import(requests(), metadata=NS)
    assert [i.name for i in resp.images] == ["docker.io/library/busybox:test"]
    images = igrpc.ImagesStub(channel)
    listed = images.List(ipb.ListImagesRequest(), metadata=NS).images
    assert [i.name for i in listed] == ["docker.io/library/busybox:test"]
    assert listed[0].target.media_type == "application/vnd.docker.distribution.manifest.v2+json"
    assert images.List(ipb.ListImagesRequest()).images == []  # other namespace
    snaps = sgrpc.SnapshotsStub(channel).List(
        spb.ListSnapshotsRequest(snapshotter="overlayfs"), metadata=NS)
    names = [i.name for r in snaps for i in r.info]
    assert names[0] == sha(l1) and len(names) == 2
    # a corrupt archive: INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as e:
        tgrpc.TransferStub(channel).Import(iter([
            tpb.ImportRequest(options=tpb.ImportOptions(), data=b"junk" * 100)]), metadata=NS)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # deleting the image (sync) collects its snapshots
    images.Delete(ipb.DeleteImageRequest(name="docker.io/library/busybox:test", sync=True),
                  metadata=NS)
    snaps = sgrpc.SnapshotsStub(channel).List(spb.ListSnapshotsRequest(), metadata=NS)
    assert [i.name for r in snaps for i in r.info] == []


def test_socket_error_codes_and_events(channel: grpc.Channel) -> None:
    containers = cgrpc.ContainersStub(channel)
    events = egrpc.EventsStub(channel).Subscribe(
        epb.SubscribeRequest(filters=["topic~=/containers/,namespace==moby"]))
    got: list[str] = []
    ready = threading.Event()

    def read() -> None:
        try:
            for env in events:
                got.append(env.topic)
                if len(got) == 2:
                    ready.set()
        except grpc.RpcError:
            pass

    threading.Thread(target=read, daemon=True).start()
    c = cpb.Container(id="web", runtime=cpb.Container.Runtime(name="io.containerd.runc.v2"),
                      spec=any_pb2.Any(type_url="spec", value=b"{}"))
    import time

    time.sleep(0.3)  # let the subscription register
    containers.Create(cpb.CreateContainerRequest(container=c), metadata=NS)
    with pytest.raises(grpc.RpcError) as e:
        containers.Create(cpb.CreateContainerRequest(container=c), metadata=NS)
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.RpcError) as e:
        containers.Get(cpb.GetContainerRequest(id="web"),
                       metadata=(("containerd-namespace", "nowhere"),))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    containers.Delete(cpb.DeleteContainerRequest(id="web"), metadata=NS)
    snaps = sgrpc.SnapshotsStub(channel)
    snaps.Prepare(spb.PrepareSnapshotRequest(snapshotter="overlayfs", key="k"), metadata=NS)
    with pytest.raises(grpc.RpcError) as e:
        snaps.Prepare(spb.PrepareSnapshotRequest(snapshotter="overlayfs", key="k"), metadata=NS)
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.RpcError) as e:
        snaps.Prepare(spb.PrepareSnapshotRequest(snapshotter="zfs", key="k2"), metadata=NS)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as e:
        containers.Get(cpb.GetContainerRequest(id="x"),
                       metadata=(("containerd-namespace", "../bad"),))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ready.wait(5)
    events.cancel()
    assert got == ["/containers/create", "/containers/delete"]


def test_socket_content_write_verifies_digest(channel: grpc.Channel) -> None:
    content = ctgrpc.ContentStub(channel)
    data = b"blob bytes" * 100

    def write(expected: str) -> list[ctpb.WriteContentResponse]:
        return list(content.Write(iter([
            ctpb.WriteContentRequest(action=ctpb.STAT, ref="r1", total=len(data),
                                     expected=expected),
            ctpb.WriteContentRequest(action=ctpb.WRITE, ref="r1", data=data[:500]),
            ctpb.WriteContentRequest(action=ctpb.COMMIT, ref="r1", offset=500,
                                     data=data[500:]),
        ]), metadata=NS))

    with pytest.raises(grpc.RpcError) as e:
        write(sha(b"something else"))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert content.ListStatuses(ctpb.ListStatusesRequest(), metadata=NS).statuses == []
    out = write(sha(data))
    assert out[-1].digest == sha(data) and out[-1].offset == len(data)
    info = content.Info(ctpb.InfoRequest(digest=sha(data)), metadata=NS).info
    assert info.size == len(data)
    read = b"".join(r.data for r in content.Read(ctpb.ReadContentRequest(digest=sha(data)),
                                                  metadata=NS))
    assert read == data
    with pytest.raises(grpc.RpcError) as e:
        write(sha(data))
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_socket_lease_metadata_holds_written_content(channel: grpc.Channel) -> None:
    from pyd_proto.containerd.services.leases.v1 import leases_pb2, leases_pb2_grpc

    leases = leases_pb2_grpc.LeasesStub(channel)
    leases.Create(leases_pb2.CreateRequest(id="build1"), metadata=NS)
    md = (*NS, ("containerd-lease", "build1"))
    data = b"leased content"
    list(ctgrpc.ContentStub(channel).Write(iter([ctpb.WriteContentRequest(
        action=ctpb.COMMIT, ref="x", data=data, total=len(data), expected=sha(data))]),
        metadata=md))
    sgrpc.SnapshotsStub(channel).Prepare(spb.PrepareSnapshotRequest(key="rw"), metadata=md)
    res = leases.ListResources(leases_pb2.ListResourcesRequest(id="build1"), metadata=NS)
    assert {(r.type, r.id) for r in res.resources} == {("content", sha(data)),
                                                       ("snapshots/overlayfs", "rw")}
    leases.Delete(leases_pb2.DeleteRequest(id="build1", sync=True), metadata=NS)
    with pytest.raises(grpc.RpcError) as e:
        ctgrpc.ContentStub(channel).Info(ctpb.InfoRequest(digest=sha(data)), metadata=NS)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_socket_export_streams_a_loadable_tar(channel: grpc.Channel) -> None:
    import io
    import tarfile

    l1 = layer_tar([("f", "f", "x")])
    path_archive = docker_save([l1], ["exp:1"])
    transfer = tgrpc.TransferStub(channel)
    transfer.Import(iter([tpb.ImportRequest(options=tpb.ImportOptions(), data=path_archive)]),
                    metadata=NS)
    data = b"".join(c.data for c in transfer.Export(
        tpb.ExportRequest(names=["docker.io/library/exp:1"]), metadata=NS))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert {"oci-layout", "index.json", "manifest.json"} <= set(tf.getnames())
    with pytest.raises(grpc.RpcError) as e:
        list(transfer.Export(tpb.ExportRequest(names=["missing"]), metadata=NS))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_socket_unpack_an_image_imported_without_unpacking(channel: grpc.Channel) -> None:
    l1, l2 = layer_tar([("a", "f", "1")]), layer_tar([("b", "f", "2")])
    transfer = tgrpc.TransferStub(channel)
    transfer.Import(iter([tpb.ImportRequest(options=tpb.ImportOptions(no_unpack=True),
                                            data=docker_save([l1, l2], ["lazy:1"]))]),
                    metadata=NS)
    snaps = sgrpc.SnapshotsStub(channel)
    assert [i.name for r in snaps.List(spb.ListSnapshotsRequest(), metadata=NS)
            for i in r.info] == []
    resp = transfer.Unpack(tpb.UnpackRequest(name="docker.io/library/lazy:1"), metadata=NS)
    from pyd_containerd.images.unpack import chain_id

    assert resp.chain_id == chain_id([sha(l1), sha(l2)])
    assert snaps.Stat(spb.StatSnapshotRequest(key=resp.chain_id), metadata=NS).info.kind == \
        spb.COMMITTED
    with pytest.raises(grpc.RpcError) as e:
        transfer.Unpack(tpb.UnpackRequest(name="nope"), metadata=NS)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND

"""pyd's containerd API keeps upstream's wire names and field numbers.

Upstream clients (ctr, the Go client) only interoperate if the gRPC full
service names, package names and field numbers match containerd's; these
tests pin them to containerd v2.0.0's api/ folder.
"""

import importlib
import pkgutil

import pytest
from google.protobuf.descriptor import Descriptor, FileDescriptor

import pyd_proto.containerd
from pyd_proto.containerd.events import image_pb2 as image_events_pb2
from pyd_proto.containerd.events import task_pb2 as task_events_pb2
from pyd_proto.containerd.runtime.task.v2 import shim_pb2
from pyd_proto.containerd.services.containers.v1 import containers_pb2
from pyd_proto.containerd.services.content.v1 import content_pb2
from pyd_proto.containerd.services.events.v1 import events_pb2
from pyd_proto.containerd.services.images.v1 import images_pb2
from pyd_proto.containerd.services.leases.v1 import leases_pb2
from pyd_proto.containerd.services.namespaces.v1 import namespace_pb2
from pyd_proto.containerd.services.snapshots.v1 import snapshots_pb2
from pyd_proto.containerd.services.tasks.v1 import tasks_pb2
from pyd_proto.containerd.services.version.v1 import version_pb2
from pyd_proto.containerd.types import descriptor_pb2, mount_pb2
from pyd_proto.containerd.types.task import task_pb2


def _numbers(message: Descriptor) -> dict[str, int]:
    return {f.name: f.number for f in message.fields}


def _service_names(file: FileDescriptor) -> list[str]:
    return [s.full_name for s in file.services_by_name.values()]


@pytest.mark.parametrize(
    ("file", "full_name"),
    [
        (containers_pb2.DESCRIPTOR, "containerd.services.containers.v1.Containers"),
        (content_pb2.DESCRIPTOR, "containerd.services.content.v1.Content"),
        (events_pb2.DESCRIPTOR, "containerd.services.events.v1.Events"),
        (images_pb2.DESCRIPTOR, "containerd.services.images.v1.Images"),
        (leases_pb2.DESCRIPTOR, "containerd.services.leases.v1.Leases"),
        (namespace_pb2.DESCRIPTOR, "containerd.services.namespaces.v1.Namespaces"),
        (snapshots_pb2.DESCRIPTOR, "containerd.services.snapshots.v1.Snapshots"),
        (tasks_pb2.DESCRIPTOR, "containerd.services.tasks.v1.Tasks"),
        (version_pb2.DESCRIPTOR, "containerd.services.version.v1.Version"),
        (shim_pb2.DESCRIPTOR, "containerd.task.v2.Task"),
    ],
)
def test_service_full_names_are_upstreams(file: FileDescriptor, full_name: str) -> None:
    assert _service_names(file) == [full_name]


def test_every_generated_module_imports_together() -> None:
    # Two files share package containerd.services.images.v1 (the service and
    # upstream's image events); loading everything in one pool must not clash.
    names = [
        m.name
        for m in pkgutil.walk_packages(pyd_proto.containerd.__path__, "pyd_proto.containerd.")
        if m.name.endswith(("_pb2", "_pb2_grpc"))
    ]
    assert len(names) >= 2 * 22
    for name in names:
        importlib.import_module(name)


def test_shim_service_has_every_upstream_rpc() -> None:
    methods = {m.name for m in shim_pb2.DESCRIPTOR.services_by_name["Task"].methods}
    assert methods == set(
        "State Create Start Delete Pids Pause Resume Checkpoint Kill Exec ResizePty"
        " CloseIO Update Wait Stats Connect Shutdown".split()
    )


def test_events_and_content_services_have_streaming_rpcs() -> None:
    events = events_pb2.DESCRIPTOR.services_by_name["Events"].methods_by_name
    assert set(events) == {"Publish", "Forward", "Subscribe"}
    assert events["Subscribe"].server_streaming
    assert events["Subscribe"].output_type.full_name == "containerd.types.Envelope"

    content = content_pb2.DESCRIPTOR.services_by_name["Content"].methods_by_name
    assert content["Write"].client_streaming and content["Write"].server_streaming
    assert content["Read"].server_streaming
    assert {"Status", "ListStatuses", "Abort"} <= set(content)


def test_tasks_create_request_field_numbers_are_upstreams() -> None:
    assert _numbers(tasks_pb2.CreateTaskRequest.DESCRIPTOR) == {
        "container_id": 1,
        "rootfs": 3,
        "stdin": 4,
        "stdout": 5,
        "stderr": 6,
        "terminal": 7,
        "checkpoint": 8,
        "options": 9,
        "runtime_path": 10,
        "lazy_restore": 1000,
        "checkpoint_dir": 1001,
        "lazy_restore_tls_cacert": 1002,
        "lazy_restore_tls_cert": 1003,
        "lazy_restore_tls_key": 1004,
    }


def test_shim_create_request_field_numbers_are_upstreams() -> None:
    assert _numbers(shim_pb2.CreateTaskRequest.DESCRIPTOR) == {
        "id": 1,
        "bundle": 2,
        "rootfs": 3,
        "terminal": 4,
        "stdin": 5,
        "stdout": 6,
        "stderr": 7,
        "checkpoint": 8,
        "parent_checkpoint": 9,
        "options": 10,
        "lazy_restore": 1000,
        "lazy_restore_tls_cacert": 1001,
        "lazy_restore_tls_cert": 1002,
        "lazy_restore_tls_key": 1003,
    }


def test_lazy_restore_is_field_1000_on_both_create_requests() -> None:
    for message in (tasks_pb2.CreateTaskRequest, shim_pb2.CreateTaskRequest):
        field = message.DESCRIPTOR.fields_by_name["lazy_restore"]
        assert field.number == 1000
        assert field.type == field.TYPE_STRING


def test_lazy_restore_survives_a_round_trip_and_is_unknown_to_upstream() -> None:
    request = tasks_pb2.CreateTaskRequest(container_id="c1", lazy_restore="10.0.0.2:27000")
    wire = request.SerializeToString()
    assert tasks_pb2.CreateTaskRequest.FromString(wire).lazy_restore == "10.0.0.2:27000"
    # Field 1000, wire type 2 (length-delimited): tag varint 0x1f42 -> c2 3e.
    assert b"\xc2\x3e" in wire


def test_checkpoint_request_pyd_additions() -> None:
    # The shim's request names the directory with upstream's `path = 2` (one name for
    # one thing); containerd's Tasks request has no such field and adds `image_path`.
    assert _numbers(tasks_pb2.CheckpointTaskRequest.DESCRIPTOR)["image_path"] == 1000
    assert "image_path" not in _numbers(shim_pb2.CheckpointTaskRequest.DESCRIPTOR)
    for message in (tasks_pb2.CheckpointTaskRequest, shim_pb2.CheckpointTaskRequest):
        numbers = _numbers(message.DESCRIPTOR)
        assert numbers["leave_running"] == 1001
        assert numbers["lazy"] == 1002
        assert numbers["page_server"] == 1003
        assert numbers["options"] == 3
    assert _numbers(tasks_pb2.CheckpointTaskRequest.DESCRIPTOR)["parent_checkpoint"] == 2
    assert _numbers(shim_pb2.CheckpointTaskRequest.DESCRIPTOR)["path"] == 2


def test_container_field_numbers_are_upstreams() -> None:
    assert _numbers(containers_pb2.Container.DESCRIPTOR) == {
        "id": 1,
        "labels": 2,
        "image": 3,
        "runtime": 4,
        "spec": 5,
        "snapshotter": 6,
        "snapshot_key": 7,
        "created_at": 8,
        "updated_at": 9,
        "extensions": 10,
        "sandbox": 11,
    }


def test_shared_types_keep_upstream_packages_and_numbers() -> None:
    assert mount_pb2.Mount.DESCRIPTOR.full_name == "containerd.types.Mount"
    assert _numbers(descriptor_pb2.Descriptor.DESCRIPTOR) == {
        "media_type": 1,
        "digest": 2,
        "size": 3,
        "annotations": 5,
    }
    assert task_pb2.Process.DESCRIPTOR.full_name == "containerd.v1.types.Process"
    assert task_pb2.Status.Value("PAUSING") == 5
    assert _numbers(shim_pb2.StateResponse.DESCRIPTOR)["exec_id"] == 11
    assert _numbers(images_pb2.Image.DESCRIPTOR)["created_at"] == 7


def test_event_messages_keep_upstream_type_names() -> None:
    # The Any type URL of a published event is built from these names.
    assert task_events_pb2.TaskExit.DESCRIPTOR.full_name == "containerd.events.TaskExit"
    assert _numbers(task_events_pb2.TaskExit.DESCRIPTOR) == {
        "container_id": 1,
        "id": 2,
        "pid": 3,
        "exit_status": 4,
        "exited_at": 5,
    }
    # Upstream's quirk: image events live in the images service package.
    assert (
        image_events_pb2.ImageCreate.DESCRIPTOR.full_name
        == "containerd.services.images.v1.ImageCreate"
    )

"""Container records: create, get, list with filters, update masks, delete, concurrency."""

from __future__ import annotations

import threading

import pytest
from google.protobuf import any_pb2
from sqlalchemy import Engine

from pyd_containerd.metadata.containers import Container, ContainerStore, Runtime
from pyd_containerd.metadata.namespaces import NamespaceStore
from pyd_proto.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

SPEC = any_pb2.Any(type_url="types.containerd.io/opencontainers/runtime-spec/1/Spec",
                   value=b'{"ociVersion":"1.0.2"}')


def _c(id: str, **kw: object) -> Container:
    return Container(id=id, runtime=Runtime("io.containerd.runc.v2"), spec=SPEC, **kw)  # type: ignore[arg-type]


def test_container_create_get_roundtrip(engine: Engine) -> None:
    store = ContainerStore(engine)
    ext = any_pb2.Any(type_url="x", value=b"y")
    store.create("default", _c("web", labels={"a": "1"}, image="busybox:latest",
                               snapshotter="overlayfs", snapshot_key="web",
                               extensions={"ext": ext}))
    got = store.get("default", "web")
    assert got.labels == {"a": "1"} and got.image == "busybox:latest"
    assert got.spec == SPEC and got.runtime.name == "io.containerd.runc.v2"
    assert got.extensions == {"ext": ext}
    assert got.created_at is not None and got.created_at.tzinfo is not None
    # first use created the namespace
    assert NamespaceStore(engine).get("default").name == "default"


def test_container_id_reuse_already_exists(engine: Engine) -> None:
    store = ContainerStore(engine)
    store.create("default", _c("web"))
    with pytest.raises(AlreadyExists):
        store.create("default", _c("web"))
    # the same id in another namespace is a different record
    store.create("other", _c("web"))


def test_unknown_namespace_not_found(engine: Engine) -> None:
    store = ContainerStore(engine)
    with pytest.raises(NotFound):
        store.get("nosuchns", "web")
    with pytest.raises(NotFound):
        store.delete("nosuchns", "web")
    with pytest.raises(NotFound):
        store.update("nosuchns", _c("web"))
    assert store.list("nosuchns") == []


def test_container_create_validates(engine: Engine) -> None:
    store = ContainerStore(engine)
    with pytest.raises(InvalidArgument):
        store.create("default", Container(id="x", spec=SPEC))  # no runtime
    with pytest.raises(InvalidArgument):
        store.create("default", _c("../etc"))
    with pytest.raises(InvalidArgument):
        store.create("default", Container(id="x", runtime=Runtime("r")))  # no spec
    assert store.list("default") == []


def test_container_list_filters(engine: Engine) -> None:
    store = ContainerStore(engine)
    store.create("default", _c("a", labels={"app": "web", "com.example.tier": "1"}))
    store.create("default", _c("b", labels={"app": "db"}, image="redis"))
    store.create("default", _c("c"))
    def ids(fs: list[str]) -> list[str]:
        return [c.id for c in store.list("default", fs)]

    assert ids([]) == ["a", "b", "c"]
    assert ids(["id==b"]) == ["b"]
    assert ids(["labels.app==web"]) == ["a"]
    assert ids(["labels.app"]) == ["a", "b"]
    assert ids(['labels."com.example.tier"==1']) == ["a"]
    assert ids(["labels.app!=web"]) == ["b", "c"]
    assert ids(["id~=^[ab]$,labels.app==db"]) == ["b"]
    assert ids(["id==a", "id==c"]) == ["a", "c"]
    assert ids(["image==redis"]) == ["b"]
    assert ids(["runtime.name==io.containerd.runc.v2,id==c"]) == ["c"]
    with pytest.raises(InvalidArgument):
        store.list("default", ["id~=("])


def test_container_update_masks(engine: Engine) -> None:
    store = ContainerStore(engine)
    store.create("default", _c("a", labels={"x": "1", "y": "2"}, image="i1",
                               snapshotter="overlayfs"))
    got = store.update("default", _c("a", labels={"x": "9"}), ["labels.x", "labels.y"])
    assert got.labels == {"x": "9"}
    got = store.update("default", _c("a", image="i2"), ["image"])
    assert got.image == "i2" and got.labels == {"x": "9"}
    with pytest.raises(InvalidArgument):
        store.update("default", _c("a"), ["snapshotter"])
    with pytest.raises(InvalidArgument):  # full replace may not change the snapshotter
        store.update("default", _c("a", snapshotter="other"))
    with pytest.raises(NotFound):
        store.update("default", _c("zzz"), ["image"])


def test_namespace_with_containers_cannot_be_deleted(engine: Engine) -> None:
    store = ContainerStore(engine)
    store.create("busy", _c("a"))
    with pytest.raises(FailedPrecondition):
        NamespaceStore(engine).delete("busy")
    store.delete("busy", "a")
    NamespaceStore(engine).delete("busy")


def test_twenty_threads_create_containers_without_lock_errors(engine: Engine) -> None:
    store = ContainerStore(engine)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(5):
                store.create("moby", _c(f"c{i}-{j}", labels={"i": str(i)}))
                store.update("moby", _c(f"c{i}-{j}", labels={"done": "1"}), ["labels.done"])
                store.get("moby", f"c{i}-{j}")
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.list("moby")) == 100
    assert len(store.list("moby", ["labels.done==1"])) == 100
